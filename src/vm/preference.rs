//! A VM that names a cluster preference: KubeVirt's VM controller looks it up before it
//! creates the VMI, and a preference the cluster lacks fails the VM's Sync with a Failure
//! condition (reason FailedFindPreference) while nothing starts (kubevirt v1.9.0
//! pkg/instancetype/controller/vm/controller.go `checkResourcesExist`). Waiting for the VMI
//! alone would spend the whole Boot budget on a VM that will not start.

use std::time::Duration;

use crate::cluster::kinds;
use crate::cluster::scope::Scope;
use crate::cluster::wait::condition::{entry, is, Condition};
use crate::cluster::wait::Watch;
use crate::guest::environment::Environment;

/// The reason KubeVirt gives a VM whose preference it cannot find.
const NOT_FOUND: &str = "FailedFindPreference";

/// Waits until VM `name` has its VMI, or ends at once where KubeVirt could not find its
/// preference `preference`: an [`Environment`] problem naming it.
pub async fn found(
    scope: &Scope,
    name: &str,
    preference: &str,
    budget: Duration,
) -> anyhow::Result<()> {
    let created = is("status.created is true", |vm| {
        vm["status"]["created"] == true
    });
    let missing = is(format!("Failure {NOT_FOUND}"), |vm| failure(vm).is_some());
    let watch = Watch::object(scope.client(), kinds::VM, scope.ns(), name);
    let seen = watch.until_met(&created.or(missing), budget).await?;
    match failure(&seen) {
        Some(message) => Err(Environment::MissingPreference {
            vm: format!("{}/{name}", scope.ns()),
            preference: preference.to_string(),
            message,
        }
        .into()),
        None => Ok(()),
    }
}

/// The message of `vm`'s Failure condition when it is a preference not found.
fn failure(vm: &serde_json::Value) -> Option<String> {
    let condition = entry(vm, "Failure")?;
    let failed = condition["status"] == "True" && condition["reason"] == NOT_FOUND;
    failed.then(|| {
        condition["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_a_preference_not_found_is_read_as_one() {
        let vm = |reason: &str| {
            json!({"status": {"conditions": [{"type": "Failure", "status": "True",
                "reason": reason, "message": "virtualmachineclusterpreferences.instancetype.kubevirt.io \"w\" not found"}]}})
        };
        assert!(failure(&vm(NOT_FOUND)).unwrap().contains("\"w\" not found"));
        assert_eq!(failure(&vm("FailedCreate")), None);
        assert_eq!(failure(&json!({"status": {}})), None);
    }
}

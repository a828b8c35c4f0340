//! virt-operator's verdict on the installation, as the KubeVirt CR's conditions: Available
//! while virt-handler runs ready on every node it should.

use std::sync::Arc;

use crate::controllers::Ctx;
use crate::kinds;
use crate::obj;
use crate::world::config::{KUBEVIRT_NAME, KUBEVIRT_NAMESPACE};

pub const VIRT_HANDLER: &str = "virt-handler";

/// kubevirt pkg/virt-operator/util/readycheck.go `DaemonsetIsReady`: some pods are wanted and
/// every one is ready.
fn handler_ready(ctx: &Ctx) -> bool {
    ctx.get(kinds::DAEMONSETS, KUBEVIRT_NAMESPACE, VIRT_HANDLER)
        .is_some_and(|ds| {
            let s = &ds["status"];
            let desired = s["desiredNumberScheduled"].as_i64().unwrap_or(0);
            desired > 0 && s["numberReady"].as_i64() == Some(desired)
        })
}

/// kubevirt pkg/virt-operator/kubevirt.go `syncInstallation`: a synced install strategy whose
/// components are ready is `UpdateConditionsAvailable` (util/conditions.go: Available True,
/// Progressing and Degraded False, reason AllComponentsReady); one still waiting for them is
/// `UpdateConditionsDeploying` (Available False, Progressing True, DeploymentInProgress).
pub fn reconcile(ctx: &Arc<Ctx>) {
    let ready = handler_ready(ctx);
    let now = ctx.now();
    ctx.write(kinds::KUBEVIRTS, KUBEVIRT_NAMESPACE, KUBEVIRT_NAME, |kv| {
        let (status, reason, message) = if ready {
            (
                true,
                "AllComponentsReady",
                "All components are ready.".to_string(),
            )
        } else {
            let version = obj::str_at(kv, "/status/targetKubeVirtVersion").to_string();
            let registry = obj::str_at(kv, "/status/targetKubeVirtRegistry").to_string();
            let message = format!("Deploying version {version} with registry {registry}");
            (false, "DeploymentInProgress", message)
        };
        obj::set_condition(kv, "Available", status, reason, &message, &now);
        obj::set_condition(kv, "Progressing", !status, reason, &message, &now);
        obj::set_condition(kv, "Degraded", false, reason, &message, &now);
    });
}

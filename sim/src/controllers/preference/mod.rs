//! Preferences (instancetype.kubevirt.io): a VM naming one in `spec.preference` gets a VMI
//! filled with the preference's features, clock, firmware and devices, where the VM's own
//! template leaves them unset. A VM naming a preference the cluster does not have starts
//! nothing and says why in its Failure condition, until the preference appears.

mod apply;
pub mod common;

use serde_json::Value;

use super::Ctx;
use crate::kinds;
use crate::obj;

pub use apply::apply;

/// Why the instancetype controller's Sync refused the VM: (reason, message) of its Failure
/// condition.
pub type SyncError = (&'static str, String);

/// The spec of the preference `vm` names, `None` without one (kubevirt v1.9.0
/// pkg/instancetype/preference/find/spec.go `FindPreference`; a missing one fails
/// pkg/instancetype/controller/vm/controller.go `checkResourcesExist` with reason
/// FailedFindPreference and the API's NotFound message).
pub fn find(ctx: &Ctx, vm: &Value) -> Result<Option<Value>, SyncError> {
    let wanted = &vm["spec"]["preference"];
    let Some(name) = wanted["name"].as_str() else {
        return Ok(None);
    };
    const FAILED: &str = "FailedFindPreference";
    let kind = wanted["kind"].as_str().unwrap_or_default().to_lowercase();
    let (id, ns) = match kind.as_str() {
        "" | "virtualmachineclusterpreference" | "virtualmachineclusterpreferences" => {
            (kinds::VMCLUSTERPREFERENCES, "")
        }
        // Namespaced preferences are not served here, so none can be found.
        "virtualmachinepreference" | "virtualmachinepreferences" => {
            let message =
                format!("virtualmachinepreferences.instancetype.kubevirt.io \"{name}\" not found");
            return Err((FAILED, message));
        }
        _ => {
            let kind = obj::str_at(vm, "/spec/preference/kind");
            let message = format!("got unexpected kind in PreferenceMatcher: {kind}");
            return Err((FAILED, message));
        }
    };
    match ctx.get(id, ns, name) {
        Some(preference) => Ok(Some(preference["spec"].clone())),
        None => Err((
            FAILED,
            format!("{} \"{name}\" not found", kinds::get(id).qualified()),
        )),
    }
}

/// The VMs naming cluster preference `name`: a preference created after them lets them start
/// (upstream's VM controller retries a failed Sync until the preference is found).
pub fn vms_naming(ctx: &Ctx, name: &str) -> Vec<(String, String)> {
    ctx.list(kinds::VMS, None)
        .iter()
        .filter(|vm| vm["spec"]["preference"]["name"] == name)
        .map(|vm| (obj::namespace(vm).to_string(), obj::name(vm).to_string()))
        .collect()
}

/// Sets the VM's Failure condition from the Sync's outcome, removing it after a clean one
/// (kubevirt v1.9.0 pkg/virt-controller/watch/vm/vm.go `processFailureCondition`).
pub fn write_failure(vm: &mut Value, failure: Option<&SyncError>, now: &str) {
    match failure {
        Some((reason, message)) => obj::set_condition(vm, "Failure", true, reason, message, now),
        None => obj::remove_condition(vm, "Failure"),
    }
}

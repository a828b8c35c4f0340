//! `LiveMigratable`: whether a VMI can migrate and, when it cannot, why, as the condition
//! upstream sets; read by the controllers that start migrations.

use serde_json::Value;

use super::{launcher, Ctx};
use crate::kinds;
use crate::obj;

/// Why a VMI cannot migrate (reason, message), or `None` when it can.
pub type Verdict = Option<(&'static str, String)>;

/// `LiveMigratable`, with the reason upstream gives when it is False.
pub fn set_condition(v: &mut Value, verdict: &Verdict, now: &str) {
    match verdict {
        None => obj::set_condition(v, "LiveMigratable", true, "", "", now),
        Some((reason, message)) => {
            obj::set_condition(v, "LiveMigratable", false, reason, message, now)
        }
    }
}

/// Whether the VMI can migrate: of the checks of virt-handler's calculateLiveMigrationCondition
/// (kubevirt v1.9.0 pkg/virt-handler/vm.go), those the simulation models, in its order: the
/// pod network's binding, then shared volumes.
pub fn verdict(ctx: &Ctx, vmi: &Value) -> Verdict {
    let bindings = ctx.config().migratable_bindings;
    if let Err(message) = interfaces_migratable(vmi, &bindings) {
        return Some(("InterfaceNotLiveMigratable", message));
    }
    volumes_migratable(ctx, vmi)
        .err()
        .map(|message| ("DisksNotLiveMigratable", message))
}

/// kubevirt v1.9.0 pkg/network/vmispec/interface.go VerifyVMIMigratable.
fn interfaces_migratable(vmi: &Value, migratable_bindings: &[String]) -> Result<(), String> {
    let spec = &vmi["spec"];
    let ifaces = spec["domain"]["devices"]["interfaces"].as_array();
    let Some(ifaces) = ifaces.filter(|i| !i.is_empty()) else {
        return Ok(());
    };
    let Some(pod_network) = launcher::pod_networks(spec).first().copied() else {
        return Ok(());
    };
    let Some(primary) = ifaces.iter().find(|i| i["name"] == pod_network) else {
        return Err(format!(
            "no primary interface found for network {pod_network}"
        ));
    };
    let allowed = primary["masquerade"].is_object()
        || primary["passtBinding"].is_object()
        || (primary["bridge"].is_object()
            && obj::annotation(vmi, "kubevirt.io/allow-pod-bridge-network-live-migration")
                .is_some())
        || primary["binding"]["name"]
            .as_str()
            .is_some_and(|b| migratable_bindings.iter().any(|m| m == b));
    if allowed {
        return Ok(());
    }
    Err("cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network".into())
}

/// kubevirt v1.9.0 pkg/virt-handler/vm.go checkVolumesForMigration, for PVC and DataVolume
/// volumes (the claim's access modes read from the claim itself).
fn volumes_migratable(ctx: &Ctx, vmi: &Value) -> Result<(), String> {
    const SHARED: &str =
        "live migration requires that all PVCs must be shared (using ReadWriteMany access mode)";
    for volume in vmi["spec"]["volumes"].as_array().into_iter().flatten() {
        let claim = volume["persistentVolumeClaim"]["claimName"]
            .as_str()
            .or(volume["dataVolume"]["name"].as_str());
        let Some(claim) = claim else { continue };
        let Some(pvc) = ctx.get(kinds::PVCS, obj::namespace(vmi), claim) else {
            return Err(format!(
                "cannot migrate VMI: Unable to determine if PVC {claim} is shared, {SHARED}"
            ));
        };
        let shared = pvc["spec"]["accessModes"]
            .as_array()
            .is_some_and(|m| m.iter().any(|a| a == "ReadWriteMany"));
        if !shared {
            return Err(format!(
                "cannot migrate VMI: PVC {claim} is not shared, {SHARED}"
            ));
        }
    }
    Ok(())
}

/// Whether the VMI's `LiveMigratable` condition is True.
pub fn is_migratable(vmi: &Value) -> bool {
    obj::condition_is(vmi, "LiveMigratable") == Some(true)
}

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
/// (pkg/virt-handler/vm.go), those the simulation models, in its order: the pod network's
/// binding, then shared volumes.
pub fn verdict(ctx: &Ctx, vmi: &Value) -> Verdict {
    let spec = &vmi["spec"];
    let pod_network = launcher::pod_networks(spec);
    let bridged_pod = launcher::interfaces(vmi)
        .iter()
        .any(|i| i["bridge"].is_object() && pod_network.contains(&obj::str_at(i, "/name")));
    if bridged_pod
        && obj::annotation(vmi, "kubevirt.io/allow-pod-bridge-network-live-migration").is_none()
    {
        return Some(("InterfaceNotLiveMigratable", "cannot migrate VMI which does not use masquerade, bridge with kubevirt.io/allow-pod-bridge-network-live-migration VM annotation or a migratable plugin to connect to the pod network".into()));
    }
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        let claim = volume["persistentVolumeClaim"]["claimName"]
            .as_str()
            .or(volume["dataVolume"]["name"].as_str());
        let Some(claim) = claim else { continue };
        let shared = ctx
            .get(kinds::PVCS, obj::namespace(vmi), claim)
            .is_some_and(|pvc| {
                pvc["spec"]["accessModes"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|a| a == "ReadWriteMany"))
            });
        if !shared {
            return Some(("DisksNotLiveMigratable", format!("cannot migrate VMI: PVC {claim} is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)")));
        }
    }
    None
}

/// Whether the VMI's `LiveMigratable` condition is True.
pub fn is_migratable(vmi: &Value) -> bool {
    obj::condition_is(vmi, "LiveMigratable") == Some(true)
}

//! A VMI whose launcher pod is gone: it fails (its guest dies with the pod), its running
//! migration fails with it, and once no pod of it is left its finalizers go, so that its VM
//! can replace it.

use std::sync::Arc;

use serde_json::Value;

use super::{boot, migration, Ctx};
use crate::guest;
use crate::kinds;
use crate::obj;

/// The finalizers a VMI gets: the VM controller's and the VMI controller's.
pub const FINALIZERS: [&str; 2] = [
    "kubevirt.io/virtualMachineControllerFinalize",
    "foregroundDeleteVirtualMachine",
];

/// Whether a VMI phase is final (`IsFinal`).
pub fn is_final(vmi: &Value) -> bool {
    matches!(obj::str_at(vmi, "/status/phase"), "Failed" | "Succeeded")
}

/// Pods the VMI controls (`kubevirt.io/created-by` carries its UID), in any phase.
fn pods_of(ctx: &Ctx, vmi: &Value) -> Vec<Arc<Value>> {
    let uid = obj::uid(vmi);
    ctx.list(kinds::PODS, Some(obj::namespace(vmi)))
        .into_iter()
        .filter(|p| obj::label(p, "kubevirt.io/created-by") == Some(uid))
        .collect()
}

/// Whether the VMI has a pod on the node it runs on: kubevirt v1.9.0 pkg/controller/controller.go
/// CurrentVMIPod (the newest pod the VMI controls on `status.nodeName`, any phase).
fn has_current_pod(ctx: &Ctx, vmi: &Value) -> bool {
    let node = obj::str_at(vmi, "/status/nodeName");
    pods_of(ctx, vmi)
        .iter()
        .any(|p| node.is_empty() || obj::str_at(p, "/spec/nodeName") == node)
}

/// kubevirt v1.9.0 pkg/virt-controller/watch/vmi/lifecycle.go updateStatus: a Scheduling,
/// Scheduled or Running VMI (not a migration target) whose pod does not exist is set Failed,
/// with syncReadyConditionFromPod's Ready=False/PodNotExists. The domain went with the pod
/// (the pod is removed at once in the simulator, as with a force deletion), so the guest is
/// down, and a migration of the VMI fails with it. Whether it failed the VMI.
pub fn fail_without_pod(ctx: &Ctx, vmi: &Value) -> bool {
    let live = matches!(
        obj::str_at(vmi, "/status/phase"),
        "Scheduling" | "Scheduled" | "Running"
    );
    if !live || obj::deleting(vmi) || has_current_pod(ctx, vmi) {
        return false;
    }
    if let Some(g) = ctx.guests.get(obj::uid(vmi)) {
        guest::lock(&g).go_down();
    }
    let now = ctx.now();
    let failed = ctx.write_same(kinds::VMIS, vmi, |v| {
        boot::set_phase(v, "Failed", &now);
        obj::remove_condition(v, "Ready");
        obj::set_condition(
            v,
            "Ready",
            false,
            "PodNotExists",
            "virt-launcher pod has not yet been scheduled",
            &now,
        );
    });
    if failed.is_some() {
        migration::vmi_failed(ctx, vmi);
    }
    failed.is_some()
}

/// lifecycle.go updateStatus, `IsFinal`: once no pod of a final VMI is left, its finalizers
/// go (the VM controller's own too, as vm.go sync drops it from a final VMI). Whether the VMI
/// is final.
pub fn release_if_final(ctx: &Ctx, vmi: &Value) -> bool {
    if !is_final(vmi) {
        return false;
    }
    if !obj::finalizers_of(vmi).is_empty() && pods_of(ctx, vmi).is_empty() {
        ctx.write_same(kinds::VMIS, vmi, |v| {
            for f in FINALIZERS {
                obj::remove_finalizer(v, f);
            }
        });
    }
    true
}

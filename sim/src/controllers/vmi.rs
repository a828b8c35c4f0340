//! The VMI controller: starts the boot of new VMIs, shuts deleted ones down, and keeps the
//! conditions that follow from spec and status (LiveMigratable, EvictionRequested,
//! HotVCPUChange, HotMemoryChange, MigrationRequired after a live NAD reference change).

use std::sync::Arc;

use serde_json::Value;

use super::{boot, launcher, Ctx};
use crate::kinds;
use crate::obj;

pub const FINALIZERS: [&str; 2] = [
    "kubevirt.io/virtualMachineControllerFinalize",
    "foregroundDeleteVirtualMachine",
];

pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(vmi) = ctx.get(kinds::VMIS, ns, name) else {
        return;
    };
    let uid = obj::uid(&vmi).to_string();
    if obj::deleting(&vmi) {
        if ctx.state().stopping.insert(uid.clone()) {
            tokio::spawn(boot::shutdown(ctx.clone(), ns.into(), name.into(), uid));
        }
        return;
    }
    match obj::str_at(&vmi, "/status/phase") {
        "" => {
            let now = ctx.now();
            ctx.write_uid(kinds::VMIS, ns, name, &uid, |v| {
                for f in FINALIZERS {
                    obj::add_finalizer(v, f);
                }
                boot::set_phase(v, "Pending", &now);
            });
            if ctx.state().booting.insert(uid.clone()) {
                tokio::spawn(boot::boot(ctx.clone(), ns.into(), name.into(), uid));
            }
        }
        "Running" => {
            let now = ctx.now();
            let verdict = migratability(ctx, &vmi);
            // Never evaluated while migrating: the target's pod is not the active one yet.
            let required = migration_required(ctx, &vmi);
            // The verdict comes from the VMI as read; if a migration started or ended since,
            // it is stale (it would raise MigrationRequired again right after the migration
            // that cleared it).
            let seen = vmi["status"]["migrationState"]["migrationUid"].clone();
            ctx.write_uid(kinds::VMIS, ns, name, &uid, |v| {
                let current = v["status"]["migrationState"]["migrationUid"] == seen;
                let required = required.filter(|_| current && !migrating(v));
                derived_conditions(v, &verdict, required, &now)
            });
        }
        _ => {}
    }
}

/// Whether a network change needs a migration: at once for a NAD swap; for a NIC hotplug or
/// unplug only after the grace period (pending until then). Never while migrating: the
/// target's pod is not the active one yet.
fn migration_required(ctx: &Arc<Ctx>, vmi: &Value) -> Option<bool> {
    if migrating(vmi) {
        return None;
    }
    let pod = super::network::active_pod(ctx, vmi);
    if pod.is_some_and(|pod| super::network::nad_changed(vmi, &pod)) {
        return Some(true);
    }
    if super::network::nics_pending(vmi) {
        return Some(super::network::nic_grace_over(ctx, vmi));
    }
    ctx.state().nic_grace.remove(obj::uid(vmi));
    None
}

/// Conditions a running VMI carries because of its own spec and status.
/// Runs under the store's lock: it must not call the store.
fn derived_conditions(v: &mut Value, verdict: &Verdict, required: Option<bool>, now: &str) {
    set_migratable(v, verdict, now);
    match required {
        Some(true) if obj::condition_is(v, "MigrationRequired") != Some(true) => {
            obj::set_condition(
                v,
                "MigrationRequired",
                true,
                "AutoMigrationDueToLiveUpdate",
                "",
                now,
            )
        }
        Some(false) if obj::condition(v, "MigrationRequired").is_none() => obj::set_condition(
            v,
            "MigrationRequired",
            false,
            "AutoMigrationPending",
            "",
            now,
        ),
        _ => {}
    }
    if v["status"]["evacuationNodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty())
    {
        obj::set_condition(
            v,
            "EvictionRequested",
            true,
            "EvictionRequested",
            "VMI is marked for eviction",
            now,
        );
    } else {
        obj::remove_condition(v, "EvictionRequested");
    }
    let topology = &v["status"]["currentCPUTopology"];
    let current: u64 = ["sockets", "cores", "threads"]
        .iter()
        .map(|k| topology[k].as_u64().unwrap_or(1))
        .product();
    if launcher::vcpus(&v["spec"]) != current && obj::condition(v, "HotVCPUChange").is_none() {
        obj::set_condition(v, "HotVCPUChange", true, "", "", now);
    }
    let requested = crate::quantity::of(&v["status"]["memory"]["guestRequested"]).map(|b| b as u64);
    if requested.is_some_and(|r| r != launcher::guest_memory(&v["spec"]))
        && obj::condition_is(v, "HotMemoryChange").is_none()
    {
        obj::set_condition(v, "HotMemoryChange", true, "", "", now);
    }
}

/// Why a VMI cannot migrate (reason, message), or `None` when it can.
pub type Verdict = Option<(&'static str, String)>;

/// `LiveMigratable`, with the reason upstream gives when it is False.
pub fn set_migratable(v: &mut Value, verdict: &Verdict, now: &str) {
    match verdict {
        None => obj::set_condition(v, "LiveMigratable", true, "", "", now),
        Some((reason, message)) => {
            obj::set_condition(v, "LiveMigratable", false, reason, message, now)
        }
    }
}

pub fn migratability(ctx: &Ctx, vmi: &Value) -> Verdict {
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

/// Drops what the controllers remembered about a VMI that is gone.
pub fn forget(ctx: &Ctx, vmi: &Value) {
    let uid = obj::uid(vmi);
    ctx.guests.remove(uid);
    let mut state = ctx.state();
    state.running_templates.remove(uid);
    state.booting.remove(uid);
    state.stopping.remove(uid);
    state.update_failures.remove(uid);
    state.nic_grace.remove(uid);
}

/// Whether a migration of this VMI is under way (started and not ended).
pub fn migrating(vmi: &Value) -> bool {
    let m = &vmi["status"]["migrationState"];
    !m["startTimestamp"].is_null() && m["endTimestamp"].is_null()
}

pub fn is_migratable(vmi: &Value) -> bool {
    obj::condition_is(vmi, "LiveMigratable") == Some(true)
}

//! The VMI controller: starts the boot of new VMIs, shuts deleted ones down, and keeps the
//! conditions that follow from spec and status (LiveMigratable, EvictionRequested,
//! HotVCPUChange, HotMemoryChange, MigrationRequired after a live NAD reference change).

use std::sync::Arc;

use serde_json::Value;

use super::migratable::{self, Verdict};
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
            let verdict = migratable::verdict(ctx, &vmi);
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
    migratable::set_condition(v, verdict, now);
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

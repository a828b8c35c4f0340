//! The VMI controller: starts the boot of new VMIs, shuts deleted ones down, and keeps the
//! conditions that follow from spec and status (LiveMigratable, EvictionRequested,
//! HotVCPUChange, HotMemoryChange, and MigrationRequired with the Multus interface entries
//! through [`super::netmigration`]).

use std::sync::Arc;

use serde_json::Value;

use super::migratable::{self, Verdict};
use super::netmigration::{self, Need, Required};
use super::{boot, handler_sync, launcher, lifecycle, network, vmvolumes, Ctx};
use crate::faults::Fault;
use crate::kinds;
use crate::obj;

pub use super::lifecycle::FINALIZERS;

pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(vmi) = ctx.get(kinds::VMIS, ns, name) else {
        return;
    };
    let uid = obj::uid(&vmi).to_string();
    // A final VMI has no shutdown ahead of it: once its pods are gone it is released.
    if lifecycle::release_if_final(ctx, &vmi) {
        return;
    }
    if obj::deleting(&vmi) {
        if ctx.state().stopping.insert(uid.clone()) {
            tokio::spawn(boot::shutdown(ctx.clone(), ns.into(), name.into(), uid));
        }
        return;
    }
    if lifecycle::fail_without_pod(ctx, &vmi) {
        return;
    }
    match obj::str_at(&vmi, "/status/phase") {
        "" => {
            let now = ctx.now();
            let volumes_ready = vmvolumes::vmi_ready(ctx, &vmi);
            ctx.write_uid(kinds::VMIS, ns, name, &uid, |v| {
                for f in FINALIZERS {
                    obj::add_finalizer(v, f);
                }
                boot::set_phase(v, "Pending", &now);
                vmvolumes::set_condition(v, volumes_ready, &now);
            });
            if !volumes_ready {
                ctx.state().awaiting_volumes.insert(uid);
            } else if ctx.state().booting.insert(uid.clone()) {
                tokio::spawn(boot::boot(ctx.clone(), ns.into(), name.into(), uid));
            }
        }
        // Held Pending until its DataVolumes are populated, then booted.
        "Pending" if ctx.state().awaiting_volumes.contains(&uid) => {
            if !vmvolumes::vmi_ready(ctx, &vmi) {
                return;
            }
            let now = ctx.now();
            ctx.write_uid(kinds::VMIS, ns, name, &uid, |v| {
                vmvolumes::set_condition(v, true, &now)
            });
            ctx.state().awaiting_volumes.remove(&uid);
            if ctx.state().booting.insert(uid.clone()) {
                tokio::spawn(boot::boot(ctx.clone(), ns.into(), name.into(), uid));
            }
        }
        "Running" => {
            let now = ctx.now();
            let verdict = migratable::verdict(ctx, &vmi);
            let pod = network::active_pod(ctx, &vmi);
            let mut seen = (*vmi).clone();
            if let Some(p) = &pod {
                netmigration::sync_multus_status(&mut seen, p);
            }
            // Skipped while migrating: the target's pod is not the active one yet.
            let required = if migrating(&vmi) {
                Required::Keep
            } else {
                netmigration::evaluate(ctx, &seen, pod.as_deref())
            };
            super::nicunplug::reconcile(ctx, &vmi);
            if ctx.faults.has(Fault::NicHotplugSkipsMigration) && verdict.is_some() {
                plug_without_migration(ctx, &seen, pod.as_deref());
            }
            // The decision comes from the VMI as read; if a migration started or ended since,
            // it is stale (it would raise MigrationRequired again right after the migration
            // that cleared it). The interface entries too: upstream's patch tests
            // /status/interfaces against the VMI it read (lifecycle.go prepareVMIPatch), so
            // entries from a pod that is no longer the active one are not written over a
            // newer status; the write that changed them brings another pass.
            let migration = vmi["status"]["migrationState"]["migrationUid"].clone();
            let domain = handler_sync::read(ctx, &vmi);
            ctx.write_uid(kinds::VMIS, ns, name, &uid, |v| {
                let unchanged = v["status"]["interfaces"] == vmi["status"]["interfaces"];
                if pod.is_some() && unchanged {
                    v["status"]["interfaces"] = seen["status"]["interfaces"].clone();
                }
                // The MACs only over the entries read with the domain: a newer write of them
                // follows a newer domain.
                if unchanged {
                    handler_sync::macs_from_domain(v, &domain);
                }
                handler_sync::mode_from_domain(v, &domain);
                let current = v["status"]["migrationState"]["migrationUid"] == migration;
                let required = match required {
                    _ if !current || migrating(v) => Required::Keep,
                    r => r,
                };
                derived_conditions(v, &verdict, required, &now)
            });
        }
        _ => {}
    }
}

/// The `nic-hotplug-skips-migration` regression: a non-migratable VMI's new NIC is plugged
/// into the running domain at once, instead of waiting for the migration that never comes.
fn plug_without_migration(ctx: &Arc<Ctx>, vmi: &Value, pod: Option<&Value>) {
    let Some(pod) = pod.filter(|p| netmigration::migration_need(vmi, Some(p)) == Need::Pending)
    else {
        return;
    };
    let uid = obj::uid(vmi).to_string();
    if !ctx.state().plugging.insert(uid.clone()) {
        return;
    }
    let ip = obj::str_at(pod, "/status/podIP").to_string();
    let pod_net = network::pod_network(ctx, vmi, obj::name(pod), &ip);
    let (ctx, vmi) = (ctx.clone(), vmi.clone());
    tokio::spawn(async move {
        let node = obj::str_at(&vmi, "/status/nodeName").to_string();
        network::hotplug(ctx.clone(), vmi, node, pod_net).await;
        ctx.state().plugging.remove(&uid);
    });
}

/// Conditions a running VMI carries because of its own spec and status.
/// Runs under the store's lock: it must not call the store.
fn derived_conditions(v: &mut Value, verdict: &Verdict, required: Required, now: &str) {
    migratable::set_condition(v, verdict, now);
    netmigration::set_condition(v, required, now);
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
    state.awaiting_volumes.remove(uid);
    state.stopping.remove(uid);
    state.nic_grace.remove(uid);
    drop(state);
    super::handler_sync::forget(ctx, uid);
}

/// Whether a migration of this VMI is under way (started and not ended).
pub fn migrating(vmi: &Value) -> bool {
    let m = &vmi["status"]["migrationState"];
    !m["startTimestamp"].is_null() && m["endTimestamp"].is_null()
}

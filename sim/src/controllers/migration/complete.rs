//! The end of a migration: the target takes over (the networks and the guest follow, the VMI
//! moves, hotplugged CPUs and memory are finalized, the source pod completes) and the VMIM
//! succeeds; or the migration fails, and its target pods go.

use std::sync::Arc;

use serde_json::{json, Value};

use super::step::{vmim_phase, Stop};
use crate::controllers::{boot, guest_time, launcher, network, Ctx};
use crate::faults::{Fault, Faults};
use crate::guest::{self, Guest, Nic};
use crate::kinds;
use crate::obj;
use crate::quantity;

/// What the target finalized, which the guest then follows.
#[derive(Default)]
struct Applied {
    vcpus: Option<u32>,
    memory: Option<u64>,
}

/// The target takes over: the networks and the guest follow, the VMI moves with its CPU and
/// memory hotplug finalized, the source pod completes, and the VMIM succeeds; new NICs and
/// memory reach the guest a while later.
pub fn complete(
    ctx: &Arc<Ctx>,
    vmim: &Value,
    vmi_uid: &str,
    target: &str,
    target_pod: &str,
    source_pod: &str,
) -> Result<(), Stop> {
    let ns = obj::namespace(vmim);
    let vmi_name = obj::str_at(vmim, "/spec/vmiName");
    let now = ctx.now();
    let pod_uid = ctx
        .get(kinds::PODS, ns, target_pod)
        .map(|p| obj::uid(&p).to_string())
        .unwrap_or_default();
    let live_update = domain_on_target(ctx, ns, vmi_name, vmi_uid, &now)?;
    let migrated = ctx.get(kinds::VMIS, ns, vmi_name);
    let nics_to_plug = migrated
        .as_ref()
        .and_then(|m| follow_networks(ctx, m, vmi_uid, target, target_pod, live_update));
    if let Some(g) = ctx.guests.get(vmi_uid) {
        let mut g = guest::lock(&g);
        regressions_on_the_target(&ctx.faults, &mut g, live_update);
        g.cuts.send_modify(|n| *n += 1);
        g.clock.new_launcher();
    }
    // The domain runs on the target, which QEMU announces: the switches follow the guest.
    super::fdb::settled(ctx, vmi_uid);
    super::switchover::plugged_in(ctx, vmi_uid, target);
    let applied = finalize(ctx, ns, vmi_name, vmi_uid, target, &pod_uid)?;
    if let Some(g) = ctx.guests.get(vmi_uid) {
        let mut g = guest::lock(&g);
        guest_follows(&ctx.faults, &mut g, &applied);
        // The real guest gets the vCPUs unless the cpu-hotplug-not-in-guest regression is on.
        let vcpus = applied
            .vcpus
            .filter(|_| !ctx.faults.has(Fault::CpuHotplugNotInGuest));
        if let (Some(machine), Some(vcpus), Some(vmi)) = (g.machine.clone(), vcpus, &migrated) {
            let vmi = (**vmi).clone();
            tokio::spawn(super::super::real_guest::plug_cpus(
                ctx.clone(),
                vmi,
                machine,
                vcpus,
            ));
        }
    }
    if let Some(m) = &migrated {
        if let Some(pod_net) = nics_to_plug {
            let (vmi, node) = ((**m).clone(), target.to_string());
            tokio::spawn(network::hotplug(ctx.clone(), vmi, node, pod_net));
        }
        if let Some(bytes) = applied.memory {
            tokio::spawn(online_memory(ctx.clone(), (**m).clone(), bytes));
        }
    }
    // finalizeMigrationTarget ends with setGuestTime (live-migration-target.go).
    tokio::spawn(guest_time::set_guest_time(ctx.clone(), vmi_uid.to_string()));
    boot::finish_pod(ctx, ns, source_pod);
    vmim_phase(ctx, vmim, "Succeeded")
}

/// The target's virt-handler sees the domain running (upstream's MigrationTargetController
/// updateStatus marks it detected and ready and drops `MigrationRequired`); whether the
/// migration carried a live update (the VMI had `MigrationRequired`).
fn domain_on_target(
    ctx: &Ctx,
    ns: &str,
    vmi_name: &str,
    vmi_uid: &str,
    now: &str,
) -> Result<bool, Stop> {
    let mut live_update = false;
    ctx.write_uid(kinds::VMIS, ns, vmi_name, vmi_uid, |v| {
        let s = &mut v["status"]["migrationState"];
        s["targetNodeDomainDetected"] = json!(true);
        s["targetNodeDomainReadyTimestamp"] = json!(now);
        live_update = obj::condition(v, "MigrationRequired").is_some();
        obj::remove_condition(v, "MigrationRequired");
    })
    .ok_or(Stop::Gone)?;
    Ok(live_update)
}

/// The guest's NICs join the segments of the target's networks (unless the
/// target-keeps-old-nad regression keeps a live update's NICs where they were), unplugged ones
/// leave, and the pod network follows the target pod. The target's pod network when NICs new
/// in the VMI wait to be plugged once the migration completed.
fn follow_networks(
    ctx: &Ctx,
    migrated: &Value,
    vmi_uid: &str,
    target: &str,
    target_pod: &str,
    live_update: bool,
) -> Option<launcher::PodNetwork> {
    let ns = obj::namespace(migrated);
    let old_nad_kept = live_update && ctx.faults.has(Fault::TargetKeepsOldNad);
    if let Some(segments) = network::attach(ctx, migrated, target)
        .ok()
        .filter(|_| !old_nad_kept)
    {
        network::rejoin(ctx, vmi_uid, &segments);
    }
    let pod_ip = ctx
        .get(kinds::PODS, ns, target_pod)
        .map(|p| obj::str_at(&p, "/status/podIP").to_string());
    let pod_net = network::pod_network(ctx, migrated, target_pod, &pod_ip.unwrap_or_default());
    network::replug(ctx, migrated, target, &pod_net).then_some(pod_net)
}

/// The guest runs on the target with the CPUs the target applied, unless the
/// cpu-hotplug-not-in-guest regression keeps them from it.
fn guest_follows(faults: &Faults, g: &mut Guest, applied: &Applied) {
    if let Some(n) = applied
        .vcpus
        .filter(|_| !faults.has(Fault::CpuHotplugNotInGuest))
    {
        g.vcpus = n;
    }
}

/// The guest onlines the memory the target requested, and `guestCurrent` follows the domain's
/// current memory (kubevirt/kubevirt pkg/virt-handler/vm.go updateMemoryInfo, v1.9.0) a while
/// after the migration completed; unless a regression of the catalogue keeps it from the guest
/// (memory-hotplug-not-in-guest) or from both (memory-never-onlined).
async fn online_memory(ctx: Arc<Ctx>, vmi: Value, bytes: u64) {
    let real = ctx
        .guests
        .get(obj::uid(&vmi))
        .and_then(|g| guest::lock(&g).machine.clone());
    let regressed =
        ctx.faults.has(Fault::MemoryNeverOnlined) || ctx.faults.has(Fault::MemoryHotplugNotInGuest);
    match real.filter(|_| !regressed) {
        // A real guest takes the memory when the target's domain requests it.
        Some(machine) => {
            if !super::super::real_guest::plug_memory(&ctx, &vmi, &machine, bytes).await {
                return;
            }
        }
        // The guest onlines hot-plugged memory once the target has requested it.
        None => ctx.sleep(ctx.spec.durations.memory_online).await,
    }
    if ctx.faults.has(Fault::MemoryNeverOnlined) {
        return;
    }
    if let Some(g) = ctx.guests.get(obj::uid(&vmi)) {
        if !ctx.faults.has(Fault::MemoryHotplugNotInGuest) {
            guest::lock(&g).memory_bytes = bytes;
        }
    }
    ctx.write_same(kinds::VMIS, &vmi, |v| {
        v["status"]["memory"]["guestCurrent"] = json!(quantity::bytes(bytes));
    });
}

/// The product regressions of the catalogue that show on the target after a migration.
fn regressions_on_the_target(faults: &Faults, g: &mut Guest, live_update: bool) {
    if live_update && faults.has(Fault::RebootOnNadSwap) {
        g.reboot();
        g.up = true;
    }
    if faults.has(Fault::MigrationRestartsProcesses) {
        g.restart_processes();
    }
    if faults.has(Fault::MigrationResetsTcp) {
        g.connections.clear();
    }
    if faults.has(Fault::MacRegenerated) {
        // Secondary networks only: the pod network and a primary UDN keep theirs.
        let secondary = |n: &&mut Nic| {
            n.segment != crate::world::fabric::POD_SEGMENT && !n.segment.starts_with("udn:")
        };
        for nic in g.nics.iter_mut().filter(secondary) {
            nic.mac = launcher::random_mac();
        }
    }
}

/// The target acknowledges the completed migration (upstream's virt-handler
/// ackMigrationCompletion: the VMI is on the target node, its eviction is over) and finalizes
/// it (finalizeMigration: hotplugCPU sets the CPU topology, hotplugMemory sets
/// `guestRequested`, both drop their condition, and the migration is `completed`).
fn finalize(
    ctx: &Ctx,
    ns: &str,
    vmi_name: &str,
    vmi_uid: &str,
    target: &str,
    pod_uid: &str,
) -> Result<Applied, Stop> {
    let end = ctx.now();
    let mut applied = Applied::default();
    let stays_on_source = ctx.faults.has(Fault::MigrationStaysOnNode);
    ctx.write_uid(kinds::VMIS, ns, vmi_name, vmi_uid, |v| {
        if obj::condition(v, "HotVCPUChange").is_some() {
            let cpu = v["spec"]["domain"]["cpu"].clone();
            v["status"]["currentCPUTopology"] = json!({"sockets": cpu["sockets"], "cores": cpu["cores"], "threads": cpu["threads"]});
            applied.vcpus = Some(launcher::vcpus(&v["spec"]) as u32);
            obj::remove_condition(v, "HotVCPUChange");
        }
        if obj::condition(v, "HotMemoryChange").is_some() {
            let guest = launcher::guest_memory(&v["spec"]);
            v["status"]["memory"]["guestRequested"] = json!(quantity::bytes(guest));
            applied.memory = Some(guest);
            obj::remove_condition(v, "HotMemoryChange");
        }
        let s = &mut v["status"]["migrationState"];
        s["endTimestamp"] = json!(end);
        s["completed"] = json!(true);
        // `failed,omitempty` (v1.9.0 types.go VirtualMachineInstanceMigrationState).
        obj::remove_field(s, "", "failed");
        v["status"]["activePods"] = json!({pod_uid: target});
        if !stays_on_source {
            v["status"]["nodeName"] = json!(target);
            obj::set_label(v, "kubevirt.io/nodeName", target);
        }
        // kubevirt v1.9.0 pkg/virt-handler/migration-target.go finalizeMigration: the label
        // goes once the target finalized, whatever the outcome.
        obj::remove_label(v, "kubevirt.io/migrationTargetNodeName");
        obj::remove_field(v, "/status", "evacuationNodeName");
        obj::remove_condition(v, "EvictionRequested");
        obj::remove_field(v, "/metadata/annotations", "kubevirt.io/eviction-source");
    })
    .ok_or(Stop::Gone)?;
    Ok(applied)
}

/// A migration that stopped early: the VMI's migrationState (if it is this migration's)
/// records the failure, the target pods go, and the VMIM fails (with a copy of the VMI's
/// migrationState when that is this migration's, see [`vmim_phase`]).
pub fn finish_failed(ctx: &Ctx, vmim: &Value, reason: &str, aborted: bool) {
    let ns = obj::namespace(vmim);
    let now = ctx.now();
    let vmim_uid = obj::uid(vmim);
    failed_on_vmi(ctx, vmim, reason, aborted, &now);
    for pod in ctx
        .list(kinds::PODS, Some(ns))
        .iter()
        .filter(|p| obj::label(p, "kubevirt.io/migrationJobUID") == Some(vmim_uid))
    {
        ctx.delete(kinds::PODS, ns, obj::name(pod));
    }
    let _ = vmim_phase(ctx, vmim, "Failed");
    if aborted {
        ctx.write_uid(kinds::VMIMS, ns, obj::name(vmim), vmim_uid, |m| {
            obj::set_condition(m, "migrationAbortRequested", true, "", "", &now);
        });
    }
}

/// The failure in the VMI's migrationState, when that is this migration's.
fn failed_on_vmi(ctx: &Ctx, vmim: &Value, reason: &str, aborted: bool, now: &str) {
    let ns = obj::namespace(vmim);
    let vmi_name = obj::str_at(vmim, "/spec/vmiName");
    let vmim_uid = obj::uid(vmim);
    ctx.write(kinds::VMIS, ns, vmi_name, |v| {
        let s = &mut v["status"]["migrationState"];
        if s["migrationUid"] != vmim_uid {
            return;
        }
        s["completed"] = json!(true);
        s["failed"] = json!(true);
        s["failureReason"] = json!(reason);
        s["endTimestamp"] = json!(now);
        if aborted {
            s["abortRequested"] = json!(true);
            s["abortStatus"] = json!("Succeeded");
        }
        obj::remove_label(v, "kubevirt.io/migrationTargetNodeName");
    });
}

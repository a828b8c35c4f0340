//! The VM controller: runStrategy → a VMI or none, live updates of a running VMI, and the
//! VM's status (printableStatus, Ready, RestartRequired).

use std::sync::Arc;

use serde_json::{json, Value};

use super::hotplug::{self, Decision};
use super::preference;
use super::{launcher, migratable, netsync, vmi, vmvolumes, Ctx};
use crate::faults::Fault;
use crate::kinds;
use crate::obj;
use crate::quantity;

const FINALIZER: &str = "kubevirt.io/virtualMachineControllerFinalize";

pub fn run_strategy(vm: &Value) -> &str {
    match (
        vm["spec"]["runStrategy"].as_str(),
        vm["spec"]["running"].as_bool(),
    ) {
        (Some(s), _) => s,
        (None, Some(true)) => "Always",
        _ => "Halted",
    }
}

pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(vm) = ctx.get(kinds::VMS, ns, name) else {
        return;
    };
    let vmi = ctx.get(kinds::VMIS, ns, name);
    let key = (ns.to_string(), name.to_string());
    // The instancetype controller's Sync runs before the run strategy: a preference it cannot
    // find stops the reconcile there (kubevirt v1.9.0 pkg/virt-controller/watch/vm/vm.go `sync`).
    let found = preference::find(ctx, &vm);
    // Then the DataVolumes, before the run strategy (`sync`: an error ends the sync; not ready
    // waits, unless Halted).
    let volumes_ready = match (&found, obj::deleting(&vm)) {
        (Ok(_), false) => vmvolumes::handle(ctx, &vm),
        _ => Ok(true),
    };
    if obj::deleting(&vm) {
        match &vmi {
            Some(v) if !obj::deleting(v) => ctx.delete(kinds::VMIS, ns, name),
            Some(_) => {}
            None => {
                ctx.write(kinds::VMS, ns, name, |v| {
                    obj::remove_finalizer(v, FINALIZER)
                });
                return;
            }
        }
    } else if found.is_err() {
        // Nothing starts or stops until the preference is found.
    } else if volumes_ready.is_err()
        || (volumes_ready == Ok(false) && run_strategy(&vm) != "Halted")
    {
        // "Waiting on DataVolumes to be ready."
    } else {
        let preference = found.as_ref().ok().cloned().flatten();
        let strategy = run_strategy(&vm);
        let restart = ctx.state().restarts.contains(&key);
        let start_requested = ctx.state().start_requests.contains(&key);
        let want = match strategy {
            "Always" | "RerunOnFailure" => true,
            "Manual" | "Once" => start_requested || restart || vmi.is_some(),
            _ => false,
        };
        match &vmi {
            None if want => {
                ctx.state().restarts.remove(&key);
                ctx.state().start_requests.remove(&key);
                create_vmi(ctx, &vm, preference.as_ref());
            }
            None => {
                ctx.state().restarts.remove(&key);
                clear_detached(ctx, &vm);
            }
            Some(v) if !obj::deleting(v) && (!want || restart || replaced(strategy, v)) => {
                ctx.delete(kinds::VMIS, ns, name)
            }
            Some(v) if !obj::deleting(v) && obj::str_at(v, "/status/phase") == "Running" => {
                live_update(ctx, &vm, v);
                let v = sync_networks(ctx, &vm, v);
                if ctx.faults.has(Fault::NonMigratableChangedLive) {
                    swap_without_migration(ctx, &v);
                }
            }
            // The network synchronizer runs for a VMI in any phase short of deletion.
            Some(v) if !obj::deleting(v) => {
                sync_networks(ctx, &vm, v);
            }
            Some(_) => {}
        }
    }
    let vmi = ctx.get(kinds::VMIS, ns, name);
    let restart_reason = vmi.as_ref().and_then(|v| restart_required(ctx, &vm, v));
    let volumes = vmvolumes::printable_status(ctx, &vm);
    let now = ctx.now();
    ctx.write(kinds::VMS, ns, name, |v| {
        if !obj::deleting(v) {
            obj::add_finalizer(v, FINALIZER);
        }
        let shown = Shown {
            vmi: vmi.as_deref(),
            volumes,
        };
        write_status(v, shown, restart_reason.as_deref(), &now);
        let failure = found.as_ref().err().or(volumes_ready.as_ref().err());
        preference::write_failure(v, failure, &now);
    });
}

/// kubevirt v1.9.0 pkg/virt-controller/watch/vm/vm.go syncRunStrategy: with `Always` a final
/// VMI (failed or finished) is stopped and a new one started in its place; with
/// `RerunOnFailure` a failed one.
fn replaced(strategy: &str, vmi: &Value) -> bool {
    match strategy {
        "Always" => super::lifecycle::is_final(vmi),
        "RerunOnFailure" => obj::str_at(vmi, "/status/phase") == "Failed",
        _ => false,
    }
}

fn create_vmi(ctx: &Arc<Ctx>, vm: &Value, preference: Option<&Value>) {
    let config = ctx.config();
    let template = &vm["spec"]["template"];
    let mut spec = template["spec"].clone();
    let mut metadata = json!({"annotations": template["metadata"]["annotations"].clone()});
    // kubevirt v1.9.0 pkg/instancetype/controller/vm/controller.go `ApplyToVMI`, before the
    // VMI is defaulted and created.
    if let Some(preference) = preference {
        preference::apply(preference, vm, &mut spec, &mut metadata);
    }
    defaults(&mut spec, &config);
    let mut labels = template["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert("kubevirt.io/vm".into(), json!(obj::name(vm)));
    let vmi = json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
        "metadata": {"name": obj::name(vm), "namespace": obj::namespace(vm), "labels": labels,
                     "annotations": metadata["annotations"].clone(),
                     "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                                          "name": obj::name(vm), "uid": obj::uid(vm),
                                          "controller": true, "blockOwnerDeletion": true}]},
        "spec": spec,
    });
    if let Ok(created) = ctx.create(kinds::VMIS, vmi) {
        ctx.state()
            .running_templates
            .insert(obj::uid(&created).to_string(), template["spec"].clone());
    }
}

/// KubeVirt's defaults for a VMI spec; the hotplug maxima only under LiveUpdate.
pub fn defaults(spec: &mut Value, config: &crate::world::config::VirtConfig) {
    let cpu = obj::ensure(spec, "/domain/cpu");
    for k in ["sockets", "cores", "threads"] {
        if cpu[k].is_null() {
            cpu[k] = json!(1);
        }
    }
    let sockets = cpu["sockets"].as_u64().unwrap_or(1);
    if config.live_update_rollout && cpu["maxSockets"].is_null() {
        let max = config
            .max_cpu_sockets
            .map(u64::from)
            .unwrap_or(sockets * u64::from(config.max_hotplug_ratio));
        cpu["maxSockets"] = json!(max);
    }
    let guest = launcher::guest_memory(spec);
    let memory = obj::ensure(spec, "/domain/memory");
    if memory["guest"].is_null() {
        memory["guest"] = json!(quantity::bytes(guest));
    }
    let aligned = guest.is_multiple_of(2 << 20);
    if config.live_update_rollout && memory["maxGuest"].is_null() && guest >= 1 << 30 && aligned {
        let max = config
            .max_guest
            .unwrap_or(guest * u64::from(config.max_hotplug_ratio));
        memory["maxGuest"] = json!(quantity::bytes(max));
    }
    let devices = obj::ensure(spec, "/domain/devices");
    if devices["interfaces"].is_null() && spec["networks"].is_null() {
        spec["domain"]["devices"]["interfaces"] = json!([{"name": "default", "masquerade": {}}]);
        spec["networks"] = json!([{"name": "default", "pod": {}}]);
    }
    obj::ensure(spec, "/domain/firmware")["uuid"] = json!(uuid::Uuid::new_v4().to_string());
    if spec["domain"]["machine"].is_null() {
        spec["domain"]["machine"] = json!({"type": "pc-q35-rhel9.6.0"});
    }
}

fn running_template(ctx: &Ctx, vmi: &Value) -> Option<Value> {
    ctx.state().running_templates.get(obj::uid(vmi)).cloned()
}

fn restart_required(ctx: &Ctx, vm: &Value, vmi: &Value) -> Option<String> {
    let running = running_template(ctx, vmi)?;
    hotplug::evaluate(
        &ctx.config(),
        &running,
        &vm["spec"]["template"]["spec"],
        vmi,
    )
    .restart_required
}

/// Applies CPU and memory hotplug and placement changes to the running VMI (the VMI controller
/// and workload updater take it from there).
fn live_update(ctx: &Ctx, vm: &Value, vmi: &Value) {
    let Some(running) = running_template(ctx, vmi) else {
        return;
    };
    let wanted = &vm["spec"]["template"]["spec"];
    let Decision {
        restart_required: None,
        sockets,
        memory_guest,
        placement,
    } = hotplug::evaluate(&ctx.config(), &running, wanted, vmi)
    else {
        return;
    };
    // "CPU hotplug is not allowed while VMI is migrating" / "another hotplug is in progress":
    // the VMI's next change brings this back.
    if vmi::migrating(vmi)
        || obj::condition(vmi, "HotVCPUChange").is_some()
        || obj::condition_is(vmi, "HotMemoryChange") == Some(true)
    {
        return;
    }
    let (ns, name, uid) = (obj::namespace(vmi), obj::name(vmi), obj::uid(vmi));
    let applied = ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        if let Some(s) = sockets {
            v["spec"]["domain"]["cpu"]["sockets"] = json!(s);
        }
        if let Some(m) = memory_guest {
            v["spec"]["domain"]["memory"]["guest"] = json!(quantity::bytes(m));
        }
        for (k, value) in placement.iter().flat_map(|p| p.as_object()).flatten() {
            v["spec"][k] = value.clone();
        }
    });
    if applied.is_some() {
        let mut state = ctx.state();
        if let Some(t) = state.running_templates.get_mut(uid) {
            if let Some(s) = sockets {
                t["domain"]["cpu"]["sockets"] = json!(s);
            }
            if memory_guest.is_some() {
                t["domain"]["memory"]["guest"] = wanted["domain"]["memory"]["guest"].clone();
                t["domain"]["resources"] = wanted["domain"]["resources"].clone();
            }
            for (k, value) in placement.iter().flat_map(|p| p.as_object()).flatten() {
                t[k] = value.clone();
            }
        }
    }
}

/// The VM controller's network synchronizer (kubevirt/kubevirt pkg/network/controllers/vm.go
/// Sync, v1.9.0): the VMI spec follows the template's NICs and NAD references, then the
/// template drops the unplugged NICs the VMI let go. Returns the VMI as it is now.
fn sync_networks(ctx: &Ctx, vm: &Value, vmi: &Value) -> Arc<Value> {
    let template = &vm["spec"]["template"]["spec"];
    let shown = super::network::shown_interfaces(vmi);
    let (ifaces, nets) = netsync::synced_vmi(template, &vmi["spec"], &shown);
    let (ns, name, uid) = (obj::namespace(vmi), obj::name(vmi), obj::uid(vmi));
    let mut current = Arc::new(vmi.clone());
    if netsync::put(&mut vmi["spec"].clone(), ifaces.clone(), nets.clone()) {
        if let Some(written) = ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
            netsync::put(&mut v["spec"], ifaces.clone(), nets);
        }) {
            current = written;
        }
    }
    let (vm_ifaces, vm_nets) = netsync::cleared_template(template, &ifaces, &shown);
    if netsync::put(&mut template.clone(), vm_ifaces.clone(), vm_nets.clone()) {
        ctx.write(kinds::VMS, ns, name, |v| {
            netsync::put(&mut v["spec"]["template"]["spec"], vm_ifaces, vm_nets);
        });
    }
    current
}

/// The network synchronizer of a VM without a VMI (pkg/network/controllers/vm.go Sync with no
/// VMI, v1.9.0): interfaces marked absent leave the template at once.
fn clear_detached(ctx: &Ctx, vm: &Value) {
    let template = &vm["spec"]["template"]["spec"];
    let (ifaces, nets) = netsync::cleared_template(template, &[], &[]);
    if netsync::put(&mut template.clone(), ifaces.clone(), nets.clone()) {
        ctx.write(kinds::VMS, obj::namespace(vm), obj::name(vm), |v| {
            netsync::put(&mut v["spec"]["template"]["spec"], ifaces, nets);
        });
    }
}

/// The `non-migratable-changed-live` regression: a non-migratable VMI's new NAD references
/// reach its launcher pod and guest at once, without the migration that applies them.
fn swap_without_migration(ctx: &Ctx, vmi: &Value) {
    let Some(pod) = super::network::active_pod(ctx, vmi) else {
        return;
    };
    if migratable::is_migratable(vmi) || !super::netmigration::nad_changed(vmi, &pod) {
        return;
    }
    let (ns, uid) = (obj::namespace(vmi), obj::uid(vmi));
    let ip = obj::str_at(&pod, "/status/podIP").to_string();
    let pod_net = super::network::pod_network(ctx, vmi, obj::name(&pod), &ip);
    let status = launcher::network_status(vmi, &ip, &pod_net);
    ctx.write(kinds::PODS, ns, obj::name(&pod), |p| {
        obj::ensure(p, "/metadata/annotations")["k8s.v1.cni.cncf.io/network-status"] =
            json!(status);
    });
    let node = obj::str_at(vmi, "/status/nodeName");
    if let Ok(segments) = super::network::attach(ctx, vmi, node) {
        super::network::rejoin(ctx, uid, &segments);
    }
}

/// What the VM's status is written from: its VMI, and the printableStatus its DataVolumes
/// decide (Provisioning, DataVolumeError), if any.
struct Shown<'a> {
    vmi: Option<&'a Value>,
    volumes: Option<&'static str>,
}

/// kubevirt v1.9.0 pkg/virt-controller/watch/vm/vm.go `setPrintableStatus`, in its order.
fn printable_status(vm: &Value, shown: &Shown) -> &'static str {
    if obj::deleting(vm) {
        return "Terminating";
    }
    let volumes = shown.volumes;
    let Some(vmi) = shown.vmi else {
        return volumes.unwrap_or("Stopped");
    };
    if obj::deleting(vmi) {
        return "Stopping";
    }
    if vmi::migrating(vmi) {
        return "Migrating";
    }
    if obj::condition_is(vmi, "Paused") == Some(true) {
        return "Paused";
    }
    match obj::str_at(vmi, "/status/phase") {
        "Running" => "Running",
        _ if volumes == Some("DataVolumeError") => "DataVolumeError",
        "Succeeded" | "Failed" => volumes.unwrap_or("Stopped"),
        _ if obj::condition_is(vmi, "PodScheduled") == Some(false) => "ErrorUnschedulable",
        _ => volumes.unwrap_or("Starting"),
    }
}

fn write_status(vm: &mut Value, shown: Shown, restart: Option<&str>, now: &str) {
    let vmi = shown.vmi;
    let ready =
        vmi.is_some_and(|v| obj::condition_is(v, "Ready") == Some(true) && !obj::deleting(v));
    let printable = printable_status(vm, &shown);
    let generation = vm["metadata"]["generation"].clone();
    let status = obj::ensure(vm, "/status");
    status["printableStatus"] = json!(printable);
    // VirtualMachineStatus `created,omitempty` / `ready,omitempty` (kubevirt v1.9.0
    // staging/src/kubevirt.io/api/core/v1/types.go): false is never written.
    for (field, set) in [("created", vmi.is_some()), ("ready", ready)] {
        match set {
            true => status[field] = json!(true),
            false => obj::remove_field(status, "", field),
        }
    }
    status["desiredGeneration"] = generation.clone();
    status["observedGeneration"] = generation;
    if ready {
        obj::set_condition(vm, "Ready", true, "", "", now);
    } else {
        obj::set_condition(
            vm,
            "Ready",
            false,
            if vmi.is_some() {
                "NotReady"
            } else {
                "VMINotExists"
            },
            "",
            now,
        );
    }
    match restart {
        Some(message) => obj::set_condition(vm, "RestartRequired", true, "", message, now),
        None => obj::remove_condition(vm, "RestartRequired"),
    }
    if vmi.is_some() {
        vm["status"]["runStrategy"] = json!(run_strategy(vm));
    }
}

//! The migration controller: VMIM phases, the parallelism limits, the target pod, the VMI's
//! migrationState, the convergence model, completion, failure and abort.

use std::sync::Arc;

use serde_json::{json, Value};

use super::convergence::{self, Outcome};
use super::{boot, launcher, network, policy, Ctx};
use crate::guest;
use crate::kinds;
use crate::obj;
use crate::quantity;

pub const FINALIZER: &str = "kubevirt.io/migrationJobFinalize";
/// A target pod that cannot be scheduled fails the migration after this long.
const UNSCHEDULABLE_TIMEOUT: f64 = 300.0;
const TARGET_POD_START: f64 = 3.0;
const HANDOFF: f64 = 0.5;
const TARGET_PREPARE: f64 = 1.0;
const DEFAULT_MAX_DOWNTIME: f64 = 0.3;

pub fn is_final(vmim: &Value) -> bool {
    matches!(obj::str_at(vmim, "/status/phase"), "Succeeded" | "Failed")
}

/// Level-triggered part: new VMIMs get Pending (or Failed), finished ones lose the
/// finalizer, deleted ones abort.
pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(m) = ctx.get(kinds::VMIMS, ns, name) else {
        return;
    };
    let uid = obj::uid(&m).to_string();
    if obj::deleting(&m) {
        let abort = ctx.state().migrations.get(&uid).cloned();
        match abort {
            Some(tx) => {
                let _ = tx.send(true);
            }
            None => {
                ctx.write(kinds::VMIMS, ns, name, |v| {
                    obj::remove_finalizer(v, FINALIZER)
                });
            }
        }
        return;
    }
    if is_final(&m) {
        if obj::finalizers_of(&m).iter().any(|f| f == FINALIZER) {
            ctx.write(kinds::VMIMS, ns, name, |v| {
                obj::remove_finalizer(v, FINALIZER)
            });
        }
        return;
    }
    if obj::str_at(&m, "/status/phase").is_empty() {
        let vmi_name = obj::str_at(&m, "/spec/vmiName");
        let vmi = ctx.get(kinds::VMIS, ns, vmi_name);
        let other = ctx.list(kinds::VMIMS, Some(ns)).into_iter().any(|o| {
            obj::str_at(&o, "/spec/vmiName") == vmi_name
                && obj::uid(&o) != uid
                && !is_final(&o)
                && !obj::str_at(&o, "/status/phase").is_empty()
        });
        let ok = vmi.is_some_and(|v| obj::str_at(&v, "/status/phase") == "Running") && !other;
        let now = ctx.now();
        ctx.write(kinds::VMIMS, ns, name, |v| {
            boot::set_phase(v, if ok { "Pending" } else { "Failed" }, &now)
        });
    }
}

fn priority_rank(m: &Value) -> u8 {
    match obj::str_at(m, "/spec/priority") {
        "system-critical" => 0,
        "user-triggered" => 1,
        "system-maintenance" => 2,
        _ => 1,
    }
}

/// Starts Pending migrations while the cluster and per-node limits allow.
pub fn start_pending(ctx: &Arc<Ctx>) {
    let config = ctx.config().migrations;
    let per_cluster = config["parallelMigrationsPerCluster"].as_u64().unwrap_or(5) as usize;
    let per_node = config["parallelOutboundMigrationsPerNode"]
        .as_u64()
        .unwrap_or(2) as usize;
    let all = ctx.list(kinds::VMIMS, None);
    let running: Vec<&Arc<Value>> = all
        .iter()
        .filter(|m| ctx.state().migrations.contains_key(obj::uid(m)))
        .collect();
    let mut count = running.len();
    let mut outbound: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for m in &running {
        *outbound.entry(source_node(ctx, m)).or_default() += 1;
    }
    let mut pending: Vec<&Arc<Value>> = all
        .iter()
        .filter(|m| {
            obj::str_at(m, "/status/phase") == "Pending"
                && !obj::deleting(m)
                && !ctx.state().migrations.contains_key(obj::uid(m))
        })
        .collect();
    pending.sort_by_key(|m| {
        (
            priority_rank(m),
            obj::str_at(m, "/metadata/creationTimestamp").to_string(),
            obj::str_at(m, "/metadata/resourceVersion")
                .parse::<u64>()
                .unwrap_or(0),
        )
    });
    for m in pending {
        if count >= per_cluster {
            return;
        }
        let node = source_node(ctx, m);
        let out = outbound.entry(node).or_default();
        if *out >= per_node {
            continue;
        }
        *out += 1;
        count += 1;
        let (tx, rx) = tokio::sync::watch::channel(false);
        ctx.state().migrations.insert(obj::uid(m).to_string(), tx);
        tokio::spawn(run(ctx.clone(), (**m).clone(), rx));
    }
}

fn source_node(ctx: &Ctx, m: &Value) -> String {
    ctx.get(
        kinds::VMIS,
        obj::namespace(m),
        obj::str_at(m, "/spec/vmiName"),
    )
    .map(|v| obj::str_at(&v, "/status/nodeName").to_string())
    .unwrap_or_default()
}

/// Why a running migration stopped early.
enum Stop {
    Aborted,
    Failed(String),
    Gone,
}

async fn run(ctx: Arc<Ctx>, vmim: Value, abort: tokio::sync::watch::Receiver<bool>) {
    let uid = obj::uid(&vmim).to_string();
    let result = steps(&ctx, &vmim, abort).await;
    let (ns, name) = (obj::namespace(&vmim), obj::name(&vmim));
    match result {
        Ok(()) => {}
        // Left in its last phase, it would hold a migration slot until its namespace goes.
        Err(Stop::Gone) => finish_failed(&ctx, &vmim, "the VMI no longer exists", false),
        Err(Stop::Aborted) => {
            finish_failed(&ctx, &vmim, "Live migration aborted by user request", true)
        }
        Err(Stop::Failed(reason)) => finish_failed(&ctx, &vmim, &reason, false),
    }
    ctx.state().migrations.remove(&uid);
    reconcile(&ctx, ns, name);
    ctx.requeue(super::Key::Migrations);
}

/// Sleeps a modelled duration unless the migration is aborted first.
async fn wait(
    ctx: &Ctx,
    secs: f64,
    abort: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), Stop> {
    if *abort.borrow() {
        return Err(Stop::Aborted);
    }
    tokio::select! {
        _ = ctx.sleep(secs) => Ok(()),
        _ = abort.wait_for(|a| *a) => Err(Stop::Aborted),
    }
}

fn vmim_phase(ctx: &Ctx, vmim: &Value, phase: &str) -> Result<(), Stop> {
    let now = ctx.now();
    let vmi_state = ctx
        .get(
            kinds::VMIS,
            obj::namespace(vmim),
            obj::str_at(vmim, "/spec/vmiName"),
        )
        .map(|v| v["status"]["migrationState"].clone());
    ctx.write_uid(
        kinds::VMIMS,
        obj::namespace(vmim),
        obj::name(vmim),
        obj::uid(vmim),
        |m| {
            boot::set_phase(m, phase, &now);
            if let Some(state) = vmi_state.filter(|s| s["migrationUid"] == m["metadata"]["uid"]) {
                m["status"]["migrationState"] = state;
            }
        },
    )
    .map(|_| ())
    .ok_or(Stop::Gone)
}

async fn steps(
    ctx: &Arc<Ctx>,
    vmim: &Value,
    mut abort: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Stop> {
    let ns = obj::namespace(vmim).to_string();
    let vmi_name = obj::str_at(vmim, "/spec/vmiName").to_string();
    let vmi = ctx
        .get(kinds::VMIS, &ns, &vmi_name)
        .ok_or(Stop::Failed("the VMI is gone".into()))?;
    let vmi_uid = obj::uid(&vmi).to_string();
    let source = obj::str_at(&vmi, "/status/nodeName").to_string();
    let source_pod = ctx
        .list(kinds::PODS, Some(&ns))
        .into_iter()
        .find(|p| {
            obj::label(p, "kubevirt.io/created-by") == Some(&vmi_uid)
                && obj::str_at(p, "/status/phase") == "Running"
        })
        .map(|p| obj::name(&p).to_string())
        .unwrap_or_default();
    // Target pod, placed away from the source and within addedNodeSelector.
    let mut pod = launcher::pod(&vmi, Some((obj::name(vmim), obj::uid(vmim))));
    if let Some(extra) = vmim["spec"]["addedNodeSelector"].as_object() {
        for (k, v) in extra {
            pod["spec"]["nodeSelector"][k] = v.clone();
        }
    }
    let target_pod = ctx
        .create(kinds::PODS, pod)
        .map_err(|e| Stop::Failed(e.message))?;
    let target_pod = obj::name(&target_pod).to_string();
    vmim_phase(ctx, vmim, "Scheduling")?;
    let placed = tokio::select! {
        node = boot::place(ctx, &ns, &target_pod, None, Some(&source)) => node,
        _ = ctx.sleep(UNSCHEDULABLE_TIMEOUT) => None,
        _ = abort.wait_for(|a| *a) => { ctx.delete(kinds::PODS, &ns, &target_pod); return Err(Stop::Aborted) }
    };
    let Some(target) = placed else {
        ctx.delete(kinds::PODS, &ns, &target_pod);
        return Err(Stop::Failed(format!(
            "target pod {target_pod} could not be scheduled"
        )));
    };
    wait(ctx, TARGET_POD_START, &mut abort)
        .await
        .inspect_err(|_| ctx.delete(kinds::PODS, &ns, &target_pod))?;
    // The target attaches the networks the VMI spec names now (a live NAD swap lands here).
    let at_boot = ctx
        .state()
        .boot_interfaces
        .get(&vmi_uid)
        .copied()
        .unwrap_or(0);
    let plugged = network::slots_exhausted(&vmi, at_boot).map_or(Ok(()), Err);
    if let Err(why) = plugged.and_then(|_| network::attach(ctx, &vmi, &target).map(|_| ())) {
        ctx.delete(kinds::PODS, &ns, &target_pod);
        return Err(Stop::Failed(format!("target pod {target_pod}: {why}")));
    }
    let cluster_ip = launcher::next_pod_ip(ctx, &target);
    let pod_net = network::pod_network(ctx, &vmi, &target_pod, &cluster_ip);
    let status = launcher::network_status(&vmi, &cluster_ip, &pod_net);
    boot::start_pod(ctx, &ns, &target_pod, &cluster_ip, &status);
    vmim_phase(ctx, vmim, "Scheduled")?;
    wait(ctx, HANDOFF, &mut abort).await?;
    // Hand-off: the VMI's migrationState starts afresh for this migration.
    let config = ctx.config();
    let policy = policy::matching(&ctx.store, &vmi);
    let resolved = policy::resolve(&config.migrations, policy.as_ref());
    ctx.write_uid(kinds::VMIS, &ns, &vmi_name, &vmi_uid, |v| {
        let mut state = json!({"migrationUid": obj::uid(vmim), "sourceNode": source, "targetNode": target,
            "sourcePod": source_pod, "targetPod": target_pod, "migrationConfiguration": resolved});
        if let Some(p) = &policy {
            state["migrationPolicyName"] = json!(obj::name(p));
        }
        v["status"]["migrationState"] = state;
        obj::set_label(v, "kubevirt.io/migrationTargetNodeName", &target);
    }).ok_or(Stop::Gone)?;
    vmim_phase(ctx, vmim, "PreparingTarget")?;
    wait(ctx, TARGET_PREPARE, &mut abort).await?;
    let address = crate::world::nodes::address(&ctx.store, &target);
    ctx.write_uid(kinds::VMIS, &ns, &vmi_name, &vmi_uid, |v| {
        let s = &mut v["status"]["migrationState"];
        s["targetNodeAddress"] = json!(address);
        s["targetDirectMigrationNodePorts"] = json!({"35001": 0, "41068": 49152});
        s["targetNodeDomainDetected"] = json!(false);
    })
    .ok_or(Stop::Gone)?;
    vmim_phase(ctx, vmim, "TargetReady")?;
    let start = ctx.now();
    ctx.write_uid(kinds::VMIS, &ns, &vmi_name, &vmi_uid, |v| {
        v["status"]["migrationState"]["startTimestamp"] = json!(start);
        v["status"]["migrationState"]["mode"] = json!("PreCopy");
    })
    .ok_or(Stop::Gone)?;
    vmim_phase(ctx, vmim, "Running")?;
    if obj::annotation(
        &vmi,
        "kubevirt.io/func-test-force-launcher-migration-failure",
    ) == Some("true")
    {
        wait(ctx, 1.0, &mut abort).await?;
        return Err(Stop::Failed(
            "Live migration failed: forced by the test annotation".into(),
        ));
    }
    transfer(ctx, &vmi, &resolved, policy.as_ref(), &mut abort).await?;
    complete(ctx, vmim, &vmi_uid, &target, &target_pod, &source_pod)
}

/// Copies memory per the convergence model, switching mode or aborting as it decides.
async fn transfer(
    ctx: &Arc<Ctx>,
    vmi: &Value,
    config: &Value,
    policy: Option<&Value>,
    abort: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), Stop> {
    let guest = ctx.guests.get(obj::uid(vmi));
    let (dirty_rate, working_set, memory) = match &guest {
        Some(g) => {
            let g = guest::lock(g);
            let (r, w) = g.dirty_load();
            (r, w, g.memory_bytes as f64)
        }
        None => (0.0, 0.0, launcher::guest_memory(&vmi["spec"]) as f64),
    };
    let limit = quantity::of(&config["bandwidthPerMigration"]).unwrap_or(0.0);
    let link = ctx.spec.link_bytes_per_s();
    let inputs = convergence::Inputs {
        memory_bytes: memory,
        bandwidth: if limit > 0.0 { limit.min(link) } else { link },
        dirty_rate,
        working_set,
        max_downtime_s: policy
            .and_then(|p| p["spec"]["maxDowntimeMs"].as_f64())
            .map_or(DEFAULT_MAX_DOWNTIME, |ms| ms / 1000.0),
        completion_timeout_per_gib: config["completionTimeoutPerGiB"].as_f64().unwrap_or(150.0),
        progress_timeout_s: config["progressTimeout"].as_f64().unwrap_or(150.0),
        // The awd-ignored regression: the policy's permission never reaches the monitor.
        allow_workload_disruption: config["allowWorkloadDisruption"] == true
            && !ctx.faults.has("awd-ignored"),
        allow_post_copy: config["allowPostCopy"] == true,
    };
    let (ns, name, uid) = (obj::namespace(vmi), obj::name(vmi), obj::uid(vmi));
    match convergence::plan(inputs) {
        Outcome::PreCopy { done } => wait(ctx, done, abort).await,
        Outcome::PostCopy { switch, done } => {
            wait(ctx, switch, abort).await?;
            let mode = reported_mode(ctx, "PostCopy");
            ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
                v["status"]["migrationState"]["mode"] = json!(mode)
            })
            .ok_or(Stop::Gone)?;
            // Post-copy cannot be aborted: the guest already runs on the target.
            ctx.sleep(done - switch).await;
            Ok(())
        }
        Outcome::Paused { switch, done } => {
            wait(ctx, switch, abort).await?;
            if let Some(g) = &guest {
                guest::lock(g).paused = true;
            }
            let now = ctx.now();
            let mode = reported_mode(ctx, "Paused");
            ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
                v["status"]["migrationState"]["mode"] = json!(mode);
                obj::set_condition(
                    v,
                    "Paused",
                    true,
                    "PausedByMigrationMonitor",
                    "VMI was paused by the migration monitor",
                    &now,
                );
            })
            .ok_or(Stop::Gone)?;
            let result = wait(ctx, done - switch, abort).await;
            if let Some(g) = &guest {
                guest::lock(g).paused = false;
            }
            ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
                obj::remove_condition(v, "Paused")
            });
            result
        }
        Outcome::Aborted { at, reason } => {
            wait(ctx, at, abort).await?;
            Err(Stop::Failed(reason))
        }
    }
}

/// The mode written to migrationState: the true one, unless the mode-misreported regression
/// is on.
fn reported_mode(ctx: &Ctx, mode: &'static str) -> &'static str {
    if ctx.faults.has("mode-misreported") {
        "PreCopy"
    } else {
        mode
    }
}

/// The target takes over: hotplugged CPUs and memory appear, the VMI moves, the source pod
/// completes, and the VMIM succeeds.
fn complete(
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
    let mut vcpus = None;
    let mut memory = None;
    let mut live_update = false;
    let pod_uid = ctx
        .get(kinds::PODS, ns, target_pod)
        .map(|p| obj::uid(&p).to_string())
        .unwrap_or_default();
    ctx.write_uid(kinds::VMIS, ns, vmi_name, vmi_uid, |v| {
        let s = &mut v["status"]["migrationState"];
        s["targetNodeDomainDetected"] = json!(true);
        s["targetNodeDomainReadyTimestamp"] = json!(now);
        // The target's virt-handler applies hotplug and clears the conditions.
        if obj::condition(v, "HotVCPUChange").is_some() {
            let cpu = v["spec"]["domain"]["cpu"].clone();
            v["status"]["currentCPUTopology"] = json!({"sockets": cpu["sockets"], "cores": cpu["cores"], "threads": cpu["threads"]});
            vcpus = Some(launcher::vcpus(&v["spec"]) as u32);
            obj::remove_condition(v, "HotVCPUChange");
        }
        if obj::condition_is(v, "HotMemoryChange") == Some(true) {
            let guest = launcher::guest_memory(&v["spec"]);
            v["status"]["memory"]["guestRequested"] = json!(quantity::bytes(guest));
            v["status"]["memory"]["guestCurrent"] = json!(quantity::bytes(guest));
            memory = Some(guest);
            obj::remove_condition(v, "HotMemoryChange");
        }
        live_update = obj::condition(v, "MigrationRequired").is_some();
        obj::remove_condition(v, "MigrationRequired");
    }).ok_or(Stop::Gone)?;
    if let Some(migrated) = ctx.get(kinds::VMIS, ns, vmi_name) {
        let old_nad_kept = live_update && ctx.faults.has("target-keeps-old-nad");
        if let Some(segments) = network::attach(ctx, &migrated, target)
            .ok()
            .filter(|_| !old_nad_kept)
        {
            network::rejoin(ctx, vmi_uid, &segments);
        }
        let pod_ip = ctx
            .get(kinds::PODS, ns, target_pod)
            .map(|p| obj::str_at(&p, "/status/podIP").to_string());
        let pod_net = network::pod_network(ctx, &migrated, target_pod, &pod_ip.unwrap_or_default());
        network::replug(ctx, &migrated, target, &pod_net);
    }
    if let Some(g) = ctx.guests.get(vmi_uid) {
        let mut g = guest::lock(&g);
        let faults = &ctx.faults;
        if let Some(n) = vcpus.filter(|_| !faults.has("cpu-hotplug-not-in-guest")) {
            g.vcpus = n;
        }
        if let Some(m) = memory.filter(|_| !faults.has("memory-hotplug-not-in-guest")) {
            g.memory_bytes = m;
        }
        regressions_on_the_target(faults, &mut g, live_update);
        g.moves.send_modify(|n| *n += 1);
    }
    let end = ctx.now();
    ctx.write_uid(kinds::VMIS, ns, vmi_name, vmi_uid, |v| {
        let s = &mut v["status"]["migrationState"];
        s["endTimestamp"] = json!(end);
        s["completed"] = json!(true);
        s["failed"] = json!(false);
        v["status"]["nodeName"] = json!(target);
        v["status"]["activePods"] = json!({pod_uid.clone(): target});
        obj::set_label(v, "kubevirt.io/nodeName", target);
        obj::remove_field(v, "/status", "evacuationNodeName");
        obj::remove_condition(v, "EvictionRequested");
        obj::remove_field(v, "/metadata/annotations", "kubevirt.io/eviction-source");
    })
    .ok_or(Stop::Gone)?;
    boot::finish_pod(ctx, ns, source_pod);
    vmim_phase(ctx, vmim, "Succeeded")
}

fn finish_failed(ctx: &Ctx, vmim: &Value, reason: &str, aborted: bool) {
    let ns = obj::namespace(vmim);
    let vmi_name = obj::str_at(vmim, "/spec/vmiName");
    let now = ctx.now();
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
    for pod in ctx
        .list(kinds::PODS, Some(ns))
        .iter()
        .filter(|p| obj::label(p, "kubevirt.io/migrationJobUID") == Some(vmim_uid))
    {
        ctx.delete(kinds::PODS, ns, obj::name(pod));
    }
    // The VMIM keeps its own copy, also when it failed before the VMI took it over.
    ctx.write_uid(kinds::VMIMS, ns, obj::name(vmim), vmim_uid, |m| {
        let s = obj::ensure(m, "/status/migrationState");
        s["completed"] = json!(true);
        s["failed"] = json!(true);
        s["failureReason"] = json!(reason);
        s["endTimestamp"] = json!(now);
    });
    let _ = vmim_phase(ctx, vmim, "Failed");
    if aborted {
        ctx.write_uid(kinds::VMIMS, ns, obj::name(vmim), vmim_uid, |m| {
            obj::set_condition(m, "migrationAbortRequested", true, "", "", &now);
        });
    }
}

/// The product regressions of the catalogue that show on the target after a migration.
fn regressions_on_the_target(
    faults: &crate::faults::Faults,
    g: &mut guest::Guest,
    live_update: bool,
) {
    if live_update && faults.has("reboot-on-nad-swap") {
        g.reboot();
        g.up = true;
    }
    if faults.has("migration-restarts-processes") {
        g.restart_processes();
    }
    if faults.has("migration-resets-tcp") {
        g.connections.clear();
    }
    if faults.has("mac-regenerated") {
        // Secondary networks only: the pod network and a primary UDN keep theirs.
        let secondary = |n: &&mut guest::Nic| {
            n.segment != crate::world::fabric::POD_SEGMENT && !n.segment.starts_with("udn:")
        };
        for nic in g.nics.iter_mut().filter(secondary) {
            nic.mac = launcher::random_mac();
        }
    }
}

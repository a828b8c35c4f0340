//! Scheduling a migration: the parallelism slots a Pending migration waits for, the target pod
//! (placed away from the source, started with the networks the VMI names now), and the
//! hand-off to the target with the migration configuration resolved from the policy.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::step::{stopped, vmim_phase, wait, Abort, Stop};
use crate::controllers::{boot, launcher, network, policy, Ctx};
use crate::kinds;
use crate::obj;

/// A target pod that cannot be scheduled fails the migration after this long (upstream's
/// defaultUnschedulablePendingTimeoutSeconds, enforced by handlePendingPodTimeout).
const UNSCHEDULABLE_TIMEOUT: f64 = 300.0;

fn priority_rank(m: &Value) -> u8 {
    match obj::str_at(m, "/spec/priority") {
        "system-critical" => 0,
        "user-triggered" => 1,
        "system-maintenance" => 2,
        _ => 1,
    }
}

/// The Pending migrations that may start now, in the order they start: by priority, then
/// oldest first, while the cluster and per-node limits allow (upstream:
/// handleTargetPodCreation's parallelMigrationsPerCluster and
/// parallelOutboundMigrationsPerNode checks).
pub fn admitted(ctx: &Arc<Ctx>) -> Vec<Arc<Value>> {
    let config = ctx.config().migrations;
    let per_cluster = config["parallelMigrationsPerCluster"].as_u64().unwrap_or(5) as usize;
    let per_node = config["parallelOutboundMigrationsPerNode"]
        .as_u64()
        .unwrap_or(2) as usize;
    let all = ctx.list(kinds::VMIMS, None);
    let (mut count, mut outbound) = running(ctx, &all);
    let mut admitted = Vec::new();
    for m in pending(ctx, &all) {
        if count >= per_cluster {
            break;
        }
        let out = outbound.entry(source_node(ctx, m)).or_default();
        if *out >= per_node {
            continue;
        }
        *out += 1;
        count += 1;
        admitted.push(m.clone());
    }
    admitted
}

/// How many migrations run, in all and per source node.
fn running(ctx: &Ctx, all: &[Arc<Value>]) -> (usize, HashMap<String, usize>) {
    let running: Vec<&Arc<Value>> = all
        .iter()
        .filter(|m| ctx.state().migrations.contains_key(obj::uid(m)))
        .collect();
    let mut outbound: HashMap<String, usize> = HashMap::new();
    for m in &running {
        *outbound.entry(source_node(ctx, m)).or_default() += 1;
    }
    (running.len(), outbound)
}

/// The Pending migrations not started yet, in the order they may start.
fn pending<'a>(ctx: &Arc<Ctx>, all: &'a [Arc<Value>]) -> Vec<&'a Arc<Value>> {
    let mut pending: Vec<&Arc<Value>> = all
        .iter()
        .filter(|m| {
            obj::str_at(m, "/status/phase") == "Pending"
                && !obj::deleting(m)
                && !ctx.state().migrations.contains_key(obj::uid(m))
                && !super::backoff::holds(ctx, m)
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
    pending
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

/// Where the VMI runs as its migration starts.
pub struct Source {
    pub node: String,
    pub pod: String,
}

impl Source {
    pub fn of(ctx: &Ctx, vmi: &Value) -> Source {
        let vmi_uid = obj::uid(vmi);
        let pod = ctx
            .list(kinds::PODS, Some(obj::namespace(vmi)))
            .into_iter()
            .find(|p| {
                obj::label(p, "kubevirt.io/created-by") == Some(vmi_uid)
                    && obj::str_at(p, "/status/phase") == "Running"
            })
            .map(|p| obj::name(&p).to_string())
            .unwrap_or_default();
        Source {
            node: obj::str_at(vmi, "/status/nodeName").to_string(),
            pod,
        }
    }
}

/// The target pod, running.
pub struct Target {
    pub node: String,
    pub pod: String,
}

/// Creates the target pod, waits for it to be placed and to start, and attaches the networks
/// the VMI spec names now. A failure deletes the pod.
pub async fn target(
    ctx: &Arc<Ctx>,
    vmim: &Value,
    vmi: &Value,
    source: &Source,
    abort: &mut Abort,
) -> Result<Target, Stop> {
    let ns = obj::namespace(vmim);
    let pod = create_target_pod(ctx, vmim, vmi)?;
    vmim_phase(ctx, vmim, "Scheduling")?;
    let node = place(ctx, ns, &pod, &source.node, abort).await?;
    wait(ctx, ctx.spec.durations.migration_target_pod_start, abort)
        .await
        .inspect_err(|_| ctx.delete(kinds::PODS, ns, &pod))?;
    start_target_pod(ctx, vmi, ns, &pod, &node)?;
    vmim_phase(ctx, vmim, "Scheduled")?;
    Ok(Target { node, pod })
}

/// The VMI's launcher pod for this migration, within the VMIM's addedNodeSelector.
fn create_target_pod(ctx: &Ctx, vmim: &Value, vmi: &Value) -> Result<String, Stop> {
    let mut pod = launcher::pod(vmi, Some((obj::name(vmim), obj::uid(vmim))));
    crate::controllers::serial_log::add_sidecar(ctx, vmi, &mut pod);
    if let Some(extra) = vmim["spec"]["addedNodeSelector"].as_object() {
        for (k, v) in extra {
            pod["spec"]["nodeSelector"][k] = v.clone();
        }
    }
    crate::controllers::netresources::request(ctx, vmi, &mut pod).map_err(Stop::Failed)?;
    // ipam-extensions' pod webhook mutates every launcher pod, the target's too.
    crate::controllers::udn::ipam_claims_webhook(ctx, vmi, &mut pod).map_err(Stop::Failed)?;
    let pod = ctx
        .create(kinds::PODS, pod)
        .map_err(|e| Stop::Failed(e.message))?;
    Ok(obj::name(&pod).to_string())
}

/// Binds the target pod to a node other than the source's (upstream's
/// createMigrationPodAntiAffinityRule); gives up when it stays unschedulable or the migration
/// is aborted.
async fn place(
    ctx: &Arc<Ctx>,
    ns: &str,
    pod: &str,
    source: &str,
    abort: &mut Abort,
) -> Result<String, Stop> {
    let placed = tokio::select! {
        node = boot::place(ctx, ns, pod, None, Some(source)) => node,
        _ = ctx.sleep(UNSCHEDULABLE_TIMEOUT) => None,
        stop = stopped(abort) => { ctx.delete(kinds::PODS, ns, pod); return Err(stop) }
    };
    placed.ok_or_else(|| {
        ctx.delete(kinds::PODS, ns, pod);
        Stop::Failed(format!("target pod {pod} could not be scheduled"))
    })
}

/// The target attaches the networks the VMI spec names now (a live NAD swap lands here), then
/// its pod runs; a network that cannot attach fails the migration. Whether a new NIC finds a
/// free PCIe port is not the pod's business: virt-launcher finds out when it plugs the NIC,
/// after the migration ([`network::hotplug`]).
fn start_target_pod(ctx: &Ctx, vmi: &Value, ns: &str, pod: &str, node: &str) -> Result<(), Stop> {
    if let Err(why) = network::attach(ctx, vmi, node) {
        ctx.delete(kinds::PODS, ns, pod);
        return Err(Stop::Failed(format!("target pod {pod}: {why}")));
    }
    let cluster_ip = launcher::next_pod_ip(ctx, node);
    let pod_net = network::pod_network(ctx, vmi, pod, &cluster_ip);
    let status = launcher::network_status(vmi, &cluster_ip, &pod_net);
    boot::start_pod(ctx, ns, pod, &cluster_ip, &status);
    Ok(())
}

/// What the transfer runs with: the migration configuration resolved for the VMI from the
/// cluster's and its policy's.
pub struct Configuration {
    pub resolved: Value,
}

/// The hand-off to the target: the VMI's migrationState starts afresh for this migration, with
/// both ends and the resolved configuration, and the VMI gets the target node label (upstream's
/// handleTargetPodHandoff, with matchMigrationPolicy). The VMIM moves to PreparingTarget.
pub async fn hand_off(
    ctx: &Ctx,
    vmim: &Value,
    vmi: &Value,
    source: &Source,
    target: &Target,
    abort: &mut Abort,
) -> Result<Configuration, Stop> {
    wait(ctx, ctx.spec.durations.migration_handoff, abort).await?;
    let config = ctx.config();
    let policy = policy::matching(&ctx.store, vmi);
    let resolved = policy::resolve(&config.migrations, policy.as_ref());
    let (ns, name, uid) = (obj::namespace(vmi), obj::name(vmi), obj::uid(vmi));
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        let mut state = json!({"migrationUid": obj::uid(vmim), "sourceNode": source.node, "targetNode": target.node,
            "sourcePod": source.pod, "targetPod": target.pod, "migrationConfiguration": resolved});
        if let Some(p) = &policy {
            state["migrationPolicyName"] = json!(obj::name(p));
        }
        v["status"]["migrationState"] = state;
        obj::set_label(v, "kubevirt.io/migrationTargetNodeName", &target.node);
    })
    .ok_or(Stop::Gone)?;
    vmim_phase(ctx, vmim, "PreparingTarget")?;
    Ok(Configuration { resolved })
}

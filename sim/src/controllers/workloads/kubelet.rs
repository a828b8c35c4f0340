//! The scheduler and the kubelet for the pods of DaemonSets and ReplicaSets (launcher pods
//! have their own flow in `boot.rs`): a pending pod is bound to a node that fits, and after a
//! modelled start it runs and is Ready.

use std::sync::Arc;

use serde_json::{json, Value};

use super::pods::controller_of;
use crate::controllers::{launcher, Ctx};
use crate::kinds;
use crate::obj;

// From binding to Ready (the durations profile's `pod_start`): the image is on the node, the
// container starts and its readiness probe passes once (kubelet pkg/kubelet/prober: the first
// probe after `initialDelaySeconds`, then Ready).

/// Pods this module runs: those of the workload controllers.
fn ours(pod: &Value) -> bool {
    matches!(controller_of(pod), Some(("ReplicaSet" | "DaemonSet", _, _)))
}

/// Binds `pod` if it waits for a node, then starts it (kube-scheduler `scheduleOne` and its
/// `bind`; the kubelet's `SyncPod`).
pub fn reconcile(ctx: &Arc<Ctx>, pod: &Value) {
    if !ours(pod) || obj::deleting(pod) || !obj::str_at(pod, "/spec/nodeName").is_empty() {
        return;
    }
    match crate::world::nodes::schedule(&ctx.store, pod, None) {
        Ok(node) => {
            if bind(ctx, pod, &node).is_some() {
                let (ctx, pod) = (ctx.clone(), pod.clone());
                tokio::spawn(async move {
                    ctx.sleep(ctx.spec.durations.pod_start).await;
                    run(&ctx, &pod, &node);
                });
            }
        }
        // kube-scheduler's `handleSchedulingFailure`: PodScheduled False, Unschedulable.
        Err(why) => {
            let now = ctx.now();
            ctx.write_same(kinds::PODS, pod, |p| {
                obj::set_condition(p, "PodScheduled", false, "Unschedulable", &why, &now)
            });
        }
    }
}

/// Pods still waiting for a node try again (a node changed: uncordoned, labelled, added).
pub fn schedule_pending(ctx: &Arc<Ctx>) {
    for pod in ctx.list(kinds::PODS, None) {
        reconcile(ctx, &pod);
    }
}

fn bind(ctx: &Ctx, pod: &Value, node: &str) -> Option<Arc<Value>> {
    let now = ctx.now();
    ctx.write_same(kinds::PODS, pod, |p| {
        if !obj::str_at(p, "/spec/nodeName").is_empty() {
            return;
        }
        p["spec"]["nodeName"] = json!(node);
        obj::set_condition(p, "PodScheduled", true, "", "", &now);
    })
    .filter(|p| obj::str_at(p, "/spec/nodeName") == node)
}

/// The kubelet started the pod's containers and its readiness probe passed.
fn run(ctx: &Ctx, pod: &Value, node: &str) {
    let ip = launcher::next_pod_ip(ctx, node);
    let host = crate::world::nodes::address(&ctx.store, node);
    let now = ctx.now();
    ctx.write_same(kinds::PODS, pod, |p| running(p, &ip, &host, &now));
}

/// What the kubelet reports of a pod whose containers run and are ready.
pub fn running(pod: &mut Value, ip: &str, host: &str, now: &str) {
    if obj::deleting(pod) {
        return;
    }
    let statuses: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "ready": true, "started": true,
                        "restartCount": 0, "state": {"running": {"startedAt": now}}})
        })
        .collect();
    pod["status"]["phase"] = json!("Running");
    pod["status"]["hostIP"] = json!(host);
    pod["status"]["podIP"] = json!(ip);
    pod["status"]["podIPs"] = json!([{"ip": ip}]);
    pod["status"]["startTime"] = json!(now);
    pod["status"]["containerStatuses"] = json!(statuses);
    for ty in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
    ] {
        obj::set_condition(pod, ty, true, "", "", now);
    }
}

/// A pod of a cluster that has been up for a while: bound where the scheduler puts it and
/// already running (the seeded world does not replay its own installation).
pub fn settle(ctx: &Ctx, pod: &Value) {
    let Ok(node) = crate::world::nodes::schedule(&ctx.store, pod, None) else {
        return;
    };
    if let Some(bound) = bind(ctx, pod, &node) {
        run(ctx, &bound, &node);
    }
}

//! The DaemonSet controller: one pod on each node its template fits, pinned there by node
//! affinity and tolerating what a drain does to a node, so a cordon neither moves nor blocks it.

use std::sync::Arc;

use serde_json::{json, Value};

use super::pods::{owned_by, pod_active, pod_ready, pods_of};
use crate::controllers::Ctx;
use crate::kinds;
use crate::obj;

/// kubernetes pkg/controller/daemon/util/daemonset_util.go `AddOrUpdateDaemonPodTolerations`:
/// daemon pods stay through node trouble and on unschedulable (cordoned) nodes.
fn daemon_tolerations(template_spec: &Value) -> Value {
    let mut tolerations = template_spec["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (key, effect) in [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ] {
        if !tolerations.iter().any(|t| t["key"] == key) {
            tolerations.push(json!({"key": key, "operator": "Exists", "effect": effect}));
        }
    }
    json!(tolerations)
}

/// The pod for `node` (`util.CreatePodTemplate` plus `ReplaceDaemonSetPodNodeNameNodeAffinity`:
/// required node affinity on `metadata.name`, so the default scheduler binds it there).
fn daemon_pod(ds: &Value, node: &str) -> Value {
    let template = &ds["spec"]["template"];
    let mut spec = template["spec"].clone();
    spec["tolerations"] = daemon_tolerations(&spec);
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node]}]}]});
    json!({
        "metadata": {"generateName": format!("{}-", obj::name(ds)), "namespace": obj::namespace(ds),
                     "labels": template["metadata"]["labels"],
                     "ownerReferences": owned_by(ds, "apps/v1", "DaemonSet")},
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    })
}

/// The node a daemon pod is pinned to.
fn pinned_node(pod: &Value) -> &str {
    let bound = obj::str_at(pod, "/spec/nodeName");
    if !bound.is_empty() {
        return bound;
    }
    obj::str_at(
        pod,
        "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0",
    )
}

/// pkg/controller/daemon/daemon_controller.go `syncDaemonSet` / `podsShouldBeOnNode` /
/// `updateDaemonSetStatus`: a node the daemon pod fits (`NodeShouldRunDaemonPod`: node
/// affinity and selector, taints it does not tolerate) gets one pod; the status counts them.
pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(ds) = ctx.get(kinds::DAEMONSETS, ns, name) else {
        return;
    };
    if obj::deleting(&ds) {
        return;
    }
    let pods = pods_of(ctx, ns, obj::uid(&ds));
    let (mut desired, mut scheduled, mut ready) = (0, 0, 0);
    for node in ctx.list(kinds::NODES, None) {
        let node = obj::name(&node);
        let candidate = daemon_pod(&ds, node);
        if crate::world::nodes::schedule(&ctx.store, &candidate, None).is_err() {
            continue;
        }
        desired += 1;
        let on_node: Vec<&Arc<Value>> = pods
            .iter()
            .filter(|p| pinned_node(p) == node && pod_active(p))
            .collect();
        match on_node.first() {
            None => {
                let _ = ctx.create(kinds::PODS, candidate);
            }
            Some(pod) => {
                scheduled += 1;
                ready += usize::from(pod_ready(pod));
            }
        }
    }
    let generation = ds["metadata"]["generation"].clone();
    ctx.write_same(kinds::DAEMONSETS, &ds, |ds| {
        let s = &mut ds["status"];
        s["observedGeneration"] = generation;
        s["desiredNumberScheduled"] = json!(desired);
        s["currentNumberScheduled"] = json!(scheduled);
        s["updatedNumberScheduled"] = json!(scheduled);
        s["numberMisscheduled"] = json!(0);
        s["numberReady"] = json!(ready);
        s["numberAvailable"] = json!(ready);
        s["numberUnavailable"] = json!(desired - ready);
    });
}

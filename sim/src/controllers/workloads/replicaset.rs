//! The Deployment and ReplicaSet controllers: a Deployment keeps one ReplicaSet per pod
//! template, the ReplicaSet keeps its count of active pods, so an evicted pod is replaced by a
//! new one that the scheduler puts wherever it fits (never on a cordoned node).

use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::pods::{owned_by, pod_active, pod_ready, pods_of};
use crate::controllers::Ctx;
use crate::kinds;
use crate::obj;

/// `spec.replicas`, 1 when unset (apps/v1 defaults).
pub fn replicas(object: &Value) -> i64 {
    object["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// kubernetes pkg/controller/controller_utils.go `ComputeHash`: a hash of the pod template,
/// written with `rand.SafeEncodeString`'s alphabet (no vowels, no look-alikes).
fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digest = Sha256::digest(template.to_string().as_bytes());
    let mut n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let mut out = String::new();
    while n > 0 || out.is_empty() {
        out.push(ALPHABET[(n % ALPHABET.len() as u32) as usize] as char);
        n /= ALPHABET.len() as u32;
    }
    out
}

/// pkg/controller/deployment (`syncDeployment`, `getNewReplicaSet`, `scale`, `syncDeploymentStatus`),
/// without rollout strategies: the ReplicaSet of the current template gets every replica,
/// older ones none.
pub fn reconcile_deployment(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(d) = ctx.get(kinds::DEPLOYMENTS, ns, name) else {
        return;
    };
    if obj::deleting(&d) {
        return;
    }
    let hash = template_hash(&d["spec"]["template"]);
    let current = format!("{name}-{hash}");
    let owned: Vec<Arc<Value>> = ctx
        .list(kinds::REPLICASETS, Some(ns))
        .into_iter()
        .filter(|rs| super::pods::controller_of(rs).is_some_and(|(_, _, uid)| uid == obj::uid(&d)))
        .collect();
    if !owned.iter().any(|rs| obj::name(rs) == current) {
        let _ = ctx.create(kinds::REPLICASETS, new_replicaset(&d, &current, &hash));
    }
    for rs in &owned {
        let want = if obj::name(rs) == current {
            replicas(&d)
        } else {
            0
        };
        ctx.write_same(kinds::REPLICASETS, rs, |rs| {
            rs["spec"]["replicas"] = json!(want)
        });
    }
    let sum = |field: &str| -> i64 {
        owned
            .iter()
            .map(|rs| rs["status"][field].as_i64().unwrap_or(0))
            .sum()
    };
    let (total, ready) = (sum("replicas"), sum("readyReplicas"));
    let updated = owned
        .iter()
        .find(|rs| obj::name(rs) == current)
        .map_or(0, |rs| rs["status"]["replicas"].as_i64().unwrap_or(0));
    let now = ctx.now();
    let generation = d["metadata"]["generation"].clone();
    let want = replicas(&d);
    ctx.write_same(kinds::DEPLOYMENTS, &d, |d| {
        d["status"]["observedGeneration"] = generation;
        d["status"]["replicas"] = json!(total);
        d["status"]["updatedReplicas"] = json!(updated);
        d["status"]["readyReplicas"] = json!(ready);
        d["status"]["availableReplicas"] = json!(ready);
        d["status"]["unavailableReplicas"] = json!((want - ready).max(0));
        // maxUnavailable defaults to 25 % of the replicas, rounded down.
        let available = ready >= want - want / 4;
        let (reason, message) = if available {
            (
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            (
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        obj::set_condition(d, "Available", available, reason, message, &now);
    });
}

fn new_replicaset(d: &Value, name: &str, hash: &str) -> Value {
    let mut template = d["spec"]["template"].clone();
    obj::set_label(&mut template, "pod-template-hash", hash);
    let mut selector = d["spec"]["selector"].clone();
    selector["matchLabels"]["pod-template-hash"] = json!(hash);
    json!({
        "metadata": {"name": name, "namespace": obj::namespace(d),
                     "labels": template["metadata"]["labels"],
                     "ownerReferences": owned_by(d, "apps/v1", "Deployment")},
        "spec": {"replicas": replicas(d), "selector": selector, "template": template},
    })
}

/// pkg/controller/replicaset `syncReplicaSet` / `manageReplicas` / `calculateStatus`: active
/// pods (not terminal, not being deleted) are counted, missing ones created, extra ones
/// deleted.
pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(rs) = ctx.get(kinds::REPLICASETS, ns, name) else {
        return;
    };
    if obj::deleting(&rs) {
        return;
    }
    let pods = pods_of(ctx, ns, obj::uid(&rs));
    let mut active: Vec<&Arc<Value>> = pods.iter().filter(|p| pod_active(p)).collect();
    let want = replicas(&rs);
    let have = active.len() as i64;
    for _ in have..want {
        let _ = ctx.create(kinds::PODS, new_pod(&rs));
    }
    if have > want {
        // getPodsToDelete: unready and unscheduled pods go first.
        active.sort_by_key(|p| (pod_ready(p), !obj::str_at(p, "/spec/nodeName").is_empty()));
        for p in active.iter().take((have - want) as usize) {
            ctx.delete(kinds::PODS, ns, obj::name(p));
        }
    }
    let ready = active.iter().filter(|p| pod_ready(p)).count();
    let generation = rs["metadata"]["generation"].clone();
    ctx.write_same(kinds::REPLICASETS, &rs, |rs| {
        rs["status"]["observedGeneration"] = generation;
        rs["status"]["replicas"] = json!(have);
        rs["status"]["fullyLabeledReplicas"] = json!(have);
        rs["status"]["readyReplicas"] = json!(ready);
        rs["status"]["availableReplicas"] = json!(ready);
    });
}

fn new_pod(rs: &Value) -> Value {
    let template = &rs["spec"]["template"];
    let mut metadata = json!({"generateName": format!("{}-", obj::name(rs)),
        "namespace": obj::namespace(rs), "labels": template["metadata"]["labels"],
        "ownerReferences": owned_by(rs, "apps/v1", "ReplicaSet")});
    if template["metadata"]["annotations"].is_object() {
        metadata["annotations"] = template["metadata"]["annotations"].clone();
    }
    json!({"metadata": metadata, "spec": template["spec"],
           "status": {"phase": "Pending", "qosClass": "Burstable"}})
}

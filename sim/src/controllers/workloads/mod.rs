//! Kubernetes' own controllers for the workloads a drain meets besides VMs: the DaemonSet,
//! Deployment and ReplicaSet controllers, the scheduler and kubelet for their pods, the
//! disruption controller behind PodDisruptionBudgets, and virt-operator's view of virt-handler
//! (the KubeVirt CR's conditions). The eviction API's budget check is the API server's
//! (`api/eviction.rs`).

mod daemonset;
mod disruption;
mod kubelet;
mod operator;
mod replicaset;
mod seed;

use std::sync::Arc;

use serde_json::Value;

use super::Ctx;
use crate::kinds;
use crate::obj;
use crate::store::Event;

pub use disruption::{allowed_condition, covered};
pub use seed::seed;

/// The controller (kind, name, uid) of an object, from its `controller: true` owner reference
/// (apimachinery pkg/apis/meta/v1 `GetControllerOf`).
pub fn controller_of(object: &Value) -> Option<(&str, &str, &str)> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .map(|r| {
            (
                obj::str_at(r, "/kind"),
                obj::str_at(r, "/name"),
                obj::str_at(r, "/uid"),
            )
        })
}

/// A `controller: true` owner reference to `owner` of kind `kind`.
fn owned_by(owner: &Value, api_version: &str, kind: &str) -> Value {
    serde_json::json!([{"apiVersion": api_version, "kind": kind, "name": obj::name(owner),
        "uid": obj::uid(owner), "controller": true, "blockOwnerDeletion": true}])
}

/// Pods of `namespace` controlled by the object with `uid`, those being deleted included.
fn pods_of(ctx: &Ctx, namespace: &str, uid: &str) -> Vec<Arc<Value>> {
    ctx.list(kinds::PODS, Some(namespace))
        .into_iter()
        .filter(|p| controller_of(p).is_some_and(|(_, _, u)| u == uid))
        .collect()
}

/// kubernetes pkg/api/v1/pod `IsPodReady`: the Ready condition is True.
pub fn pod_ready(pod: &Value) -> bool {
    obj::condition_is(pod, "Ready") == Some(true)
}

/// kubernetes pkg/controller/controller_utils.go `IsPodActive`: not terminal, not being deleted.
fn pod_active(pod: &Value) -> bool {
    !matches!(obj::str_at(pod, "/status/phase"), "Succeeded" | "Failed") && !obj::deleting(pod)
}

pub fn on_event(ctx: &Arc<Ctx>, e: &Event) {
    let ns = e.namespace.as_str();
    match e.kind {
        kinds::DEPLOYMENTS => replicaset::reconcile_deployment(ctx, ns, obj::name(&e.object)),
        kinds::REPLICASETS => {
            replicaset::reconcile(ctx, ns, obj::name(&e.object));
            if let Some(("Deployment", name, _)) = controller_of(&e.object) {
                replicaset::reconcile_deployment(ctx, ns, name);
            }
        }
        kinds::DAEMONSETS => {
            daemonset::reconcile(ctx, ns, obj::name(&e.object));
            operator::reconcile(ctx);
        }
        kinds::PDBS => disruption::reconcile(ctx, ns, obj::name(&e.object)),
        kinds::PODS => on_pod(ctx, e),
        kinds::NODES => {
            for ds in ctx.list(kinds::DAEMONSETS, None) {
                daemonset::reconcile(ctx, obj::namespace(&ds), obj::name(&ds));
            }
            kubelet::schedule_pending(ctx);
        }
        _ => {}
    }
}

fn on_pod(ctx: &Arc<Ctx>, e: &Event) {
    let ns = e.namespace.as_str();
    kubelet::reconcile(ctx, &e.object);
    match controller_of(&e.object) {
        Some(("ReplicaSet", name, _)) => replicaset::reconcile(ctx, ns, name),
        Some(("DaemonSet", name, _)) => daemonset::reconcile(ctx, ns, name),
        _ => {}
    }
    disruption::reconcile_namespace(ctx, ns);
}

/// Everything again (at start, or after falling behind the event stream).
pub fn resync(ctx: &Arc<Ctx>) {
    for d in ctx.list(kinds::DEPLOYMENTS, None) {
        replicaset::reconcile_deployment(ctx, obj::namespace(&d), obj::name(&d));
    }
    for rs in ctx.list(kinds::REPLICASETS, None) {
        replicaset::reconcile(ctx, obj::namespace(&rs), obj::name(&rs));
    }
    for ds in ctx.list(kinds::DAEMONSETS, None) {
        daemonset::reconcile(ctx, obj::namespace(&ds), obj::name(&ds));
    }
    kubelet::schedule_pending(ctx);
    for pdb in ctx.list(kinds::PDBS, None) {
        disruption::reconcile(ctx, obj::namespace(&pdb), obj::name(&pdb));
    }
    operator::reconcile(ctx);
}

//! What the workload controllers ask of pods and owners: who controls an object, which pods
//! a controller has, whether a pod is ready or active.

use std::sync::Arc;

use serde_json::Value;

use crate::controllers::Ctx;
use crate::kinds;
use crate::obj;

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
pub fn owned_by(owner: &Value, api_version: &str, kind: &str) -> Value {
    serde_json::json!([{"apiVersion": api_version, "kind": kind, "name": obj::name(owner),
        "uid": obj::uid(owner), "controller": true, "blockOwnerDeletion": true}])
}

/// Pods of `namespace` controlled by the object with `uid`, those being deleted included.
pub fn pods_of(ctx: &Ctx, namespace: &str, uid: &str) -> Vec<Arc<Value>> {
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
pub fn pod_active(pod: &Value) -> bool {
    !matches!(obj::str_at(pod, "/status/phase"), "Succeeded" | "Failed") && !obj::deleting(pod)
}

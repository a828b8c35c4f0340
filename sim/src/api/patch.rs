//! The four patch types: JSON merge (RFC 7386), JSON patch (RFC 6902, `test` included),
//! strategic merge (built-in kinds only, lists of named items merged by their key as upstream
//! declares it) and server-side apply (approximated by a merge; it creates missing objects).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::path::Target;
use super::{ApiState, Call};
use crate::error::{ApiError, ApiResult, Cause};
use crate::kinds::{self, Kind};
use crate::store::Scope;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

fn patch_type(call: &Call, kind: &Kind) -> ApiResult<PatchType> {
    let unsupported = || {
        ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}",
            if kind.builtin { ", application/strategic-merge-patch+json" } else { "" },
        ))
    };
    match call.content_type() {
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/strategic-merge-patch+json" if kind.builtin => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
        _ => Err(unsupported()),
    }
}

/// Applies the patch in `call` to the object `t`; returns the HTTP code (201 when an apply
/// created the object) and the stored result.
pub fn apply(
    state: &Arc<ApiState>,
    t: &Target,
    scope: Scope,
    call: &Call,
) -> ApiResult<(u16, Arc<Value>)> {
    let kind = kinds::get(t.kind);
    let ty = patch_type(call, kind)?;
    if ty == PatchType::Apply && call.param("fieldManager").is_none() {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    let body = call.required_body()?;
    let store = &state.store;
    let missing = store.get(t.kind, &t.namespace, &t.name).is_none();
    if ty == PatchType::Apply && missing && scope == Scope::Main {
        crate::store::check_shape(&body)?;
        let mut object = body;
        object["metadata"]["name"] = json!(t.name);
        if kind.namespaced {
            object["metadata"]["namespace"] = json!(t.namespace);
        }
        state.world.admit_create(store, t.kind, &mut object)?;
        return Ok((
            201,
            store.create(t.kind, object, Scope::Main, call.dry_run())?,
        ));
    }
    let patched = store.modify(
        t.kind,
        &t.namespace,
        &t.name,
        scope,
        call.dry_run(),
        |old| {
            let mut doc = kind.present(old, &t.version);
            match ty {
                PatchType::Merge | PatchType::Apply => json_patch::merge(&mut doc, &body),
                PatchType::Strategic => strategic_merge(&mut doc, &body, ""),
                PatchType::Json => json_patch_ops(&mut doc, body, kind, &t.name)?,
            }
            state.admit_update(t.kind, scope, old, doc)
        },
    )?;
    Ok((200, patched))
}

fn json_patch_ops(doc: &mut Value, body: Value, kind: &Kind, name: &str) -> ApiResult<()> {
    let ops: json_patch::Patch = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("the JSON patch is malformed: {e}")))?;
    json_patch::patch(doc, &ops).map_err(|e| {
        let cause = Cause {
            field: "patch".into(),
            message: format!("the JSON patch does not apply: {e}"),
        };
        ApiError::invalid(kind, name, vec![cause])
    })
}

/// How a list at `path` (field names joined by dots, list indices left out) merges.
enum ListMerge {
    Replace,
    ByKey(&'static str),
    Primitive,
}

fn list_merge(path: &str) -> ListMerge {
    match path {
        "metadata.finalizers" => ListMerge::Primitive,
        "metadata.ownerReferences" => ListMerge::ByKey("uid"),
        "spec.containers"
        | "spec.initContainers"
        | "spec.ephemeralContainers"
        | "spec.volumes"
        | "spec.imagePullSecrets"
        | "spec.containers.env"
        | "spec.initContainers.env" => ListMerge::ByKey("name"),
        "spec.containers.ports" => ListMerge::ByKey("containerPort"),
        "spec.containers.volumeMounts" => ListMerge::ByKey("mountPath"),
        "status.conditions" | "status.addresses" => ListMerge::ByKey("type"),
        "spec.taints" => ListMerge::ByKey("key"),
        _ => ListMerge::Replace,
    }
}

fn strategic_merge(target: &mut Value, patch: &Value, path: &str) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch.clone();
        replaced.remove("$patch");
        *target = Value::Object(replaced);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object");
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(gone)) = (
                t.get_mut(field).and_then(Value::as_array_mut),
                value.as_array(),
            ) {
                list.retain(|v| !gone.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue; // $setElementOrder/…, $retainKeys: ordering and pruning hints
        }
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match value {
            Value::Null => {
                t.remove(key);
            }
            Value::Object(_) if t.get(key).is_some_and(Value::is_object) => {
                strategic_merge(t.get_mut(key).expect("checked"), value, &child);
            }
            Value::Object(_) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, value, &child);
                t.insert(key.clone(), fresh);
            }
            Value::Array(items) => {
                merge_list(t.entry(key.clone()).or_insert(json!([])), items, &child)
            }
            _ => {
                t.insert(key.clone(), value.clone());
            }
        }
    }
}

fn merge_list(target: &mut Value, items: &[Value], path: &str) {
    let merge = list_merge(path);
    let Some(list) = target
        .as_array_mut()
        .filter(|_| !matches!(merge, ListMerge::Replace))
    else {
        *target = Value::Array(items.to_vec());
        return;
    };
    match merge {
        ListMerge::Primitive => {
            for item in items {
                if !list.contains(item) {
                    list.push(item.clone());
                }
            }
        }
        ListMerge::ByKey(key) => {
            for item in items {
                let id = &item[key];
                let found = list.iter().position(|existing| existing[key] == *id);
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (found, delete) {
                    (Some(i), true) => {
                        list.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => strategic_merge(&mut list[i], item, path),
                    (None, false) => {
                        let mut fresh = Value::Object(Map::new());
                        strategic_merge(&mut fresh, item, path);
                        list.push(fresh);
                    }
                }
            }
        }
        ListMerge::Replace => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategic_merge_merges_named_lists_and_replaces_others() {
        let mut pod = json!({
            "metadata": {"finalizers": ["a"], "labels": {"x": "1", "y": "2"}},
            "spec": {"containers": [{"name": "c1", "image": "i1"}, {"name": "c2", "image": "i2"}],
                     "tolerations": [{"key": "t1"}]},
        });
        let patch = json!({
            "metadata": {"finalizers": ["b"], "labels": {"y": null}},
            "spec": {"containers": [{"name": "c2", "image": "i2b"}, {"name": "c3", "image": "i3"},
                                    {"name": "c1", "$patch": "delete"}],
                     "$setElementOrder/containers": [{"name": "c2"}],
                     "tolerations": [{"key": "t2"}]},
        });
        strategic_merge(&mut pod, &patch, "");
        assert_eq!(pod["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(pod["metadata"]["labels"], json!({"x": "1"}));
        assert_eq!(
            pod["spec"]["containers"],
            json!([{"name": "c2", "image": "i2b"}, {"name": "c3", "image": "i3"}])
        );
        assert_eq!(pod["spec"]["tolerations"], json!([{"key": "t2"}]));
        assert!(pod["spec"].get("$setElementOrder/containers").is_none());
    }

    #[test]
    fn strategic_merge_directives() {
        let mut node = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
                           "spec": {"$patch": "replace", "unschedulable": true}});
        strategic_merge(&mut node, &patch, "");
        assert_eq!(
            node,
            json!({"metadata": {"finalizers": ["b"]}, "spec": {"unschedulable": true}})
        );
    }
}

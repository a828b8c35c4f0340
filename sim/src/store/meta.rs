//! Object metadata rules of the API server: names, uid, timestamps, generation, what a write
//! may and may not change.

use serde_json::{json, Map, Value};

use crate::clock::Clock;
use crate::error::{ApiError, ApiResult, Cause};
use crate::kinds::{self, Kind, KindId};

/// What a write may change: the main resource keeps the stored status, the status
/// subresource keeps everything but the status; controllers of the simulated world write both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Main,
    Status,
    All,
}

pub fn ns_name(object: &Value) -> (String, String) {
    let s = |f: &str| {
        object["metadata"][f]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    (s("namespace"), s("name"))
}

pub fn deleting(object: &Value) -> bool {
    object["metadata"]["deletionTimestamp"].is_string()
}

pub fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Rejects bodies whose standard fields have the wrong JSON type, as the API server's decoder
/// does, before anything reads them.
pub fn check_shape(object: &Value) -> ApiResult<()> {
    let bad = |field: &str, want: &str| {
        Err(ApiError::bad_request(format!(
            "the object could not be decoded: {field} must be {want}"
        )))
    };
    let Some(o) = object.as_object() else {
        return bad("the request body", "a JSON object");
    };
    let meta = match o.get("metadata") {
        None => return Ok(()),
        Some(Value::Object(m)) => m,
        Some(_) => return bad("metadata", "an object"),
    };
    let strings = |v: &Value| {
        v.as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
    };
    for map in ["labels", "annotations"] {
        if meta.get(map).is_some_and(|v| !v.is_null() && !strings(v)) {
            return bad(&format!("metadata.{map}"), "an object of strings");
        }
    }
    for text in [
        "name",
        "generateName",
        "namespace",
        "resourceVersion",
        "uid",
    ] {
        if meta
            .get(text)
            .is_some_and(|v| !v.is_null() && !v.is_string())
        {
            return bad(&format!("metadata.{text}"), "a string");
        }
    }
    let list_of =
        |v: &Value, item: fn(&Value) -> bool| v.as_array().is_some_and(|a| a.iter().all(item));
    if meta
        .get("finalizers")
        .is_some_and(|v| !v.is_null() && !list_of(v, Value::is_string))
    {
        return bad("metadata.finalizers", "a list of strings");
    }
    let owner_ok = |r: &Value| r.is_object() && r.get("uid").is_none_or(Value::is_string);
    if meta
        .get("ownerReferences")
        .is_some_and(|v| !v.is_null() && !list_of(v, owner_ok))
    {
        return bad(
            "metadata.ownerReferences",
            "a list of objects with string uids",
        );
    }
    Ok(())
}

/// `a-z0-9-` with alphanumeric ends, up to `max` characters; `dots` allows DNS subdomains.
fn dns_name_problem(name: &str, dots: bool, max: usize) -> Option<String> {
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.'));
    let ends_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let what = if dots { "subdomain" } else { "label" };
    if name.len() > max {
        Some(format!("must be no more than {max} characters"))
    } else if !chars_ok || !ends_ok {
        Some(format!(
            "a lowercase RFC 1123 {what} must consist of lower case alphanumeric characters, '-'{} \
             and must start and end with an alphanumeric character",
            if dots { " or '.'" } else { "" }
        ))
    } else {
        None
    }
}

fn validate_name(kind: &Kind, name: &str) -> ApiResult<()> {
    let problem = if kind.kind == "Namespace" {
        dns_name_problem(name, false, 63)
    } else {
        dns_name_problem(name, true, 253)
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(ApiError::invalid(
            kind,
            name,
            vec![Cause {
                field: "metadata.name".into(),
                message: format!("Invalid value: \"{name}\": {why}"),
            }],
        )),
    }
}

/// Five characters from the alphabet Kubernetes uses for generated name suffixes.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("just made an object")
}

fn resolve_name(kind: &Kind, meta: &mut Map<String, Value>) -> ApiResult<String> {
    if let Some(name) = meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Ok(name.to_string());
    }
    match meta.get("generateName").and_then(Value::as_str) {
        Some(prefix) if !prefix.is_empty() => {
            let name = format!("{prefix}{}", random_suffix());
            meta.insert("name".into(), json!(name));
            Ok(name)
        }
        _ => Err(ApiError::invalid(
            kind,
            "",
            vec![Cause {
                field: "metadata.name".into(),
                message: "Required value: name or generateName is required".into(),
            }],
        )),
    }
}

/// The status a user-created object starts with, as the API server's create strategies set it.
fn initial_status(kind: &Kind, given: Option<Value>) -> Option<Value> {
    match kind.kind {
        "Namespace" => Some(json!({"phase": "Active"})),
        "Pod" => Some(json!({"phase": "Pending"})),
        "Node" => given,
        _ if kind.status => None,
        _ => given,
    }
}

/// The object a create stores. Whether its namespace exists is for the create to check: it
/// needs the store's contents.
pub fn prepare_create(
    clock: &Clock,
    kind_id: KindId,
    mut object: Value,
    scope: Scope,
) -> ApiResult<Value> {
    let kind = kinds::get(kind_id);
    check_shape(&object)?;
    let meta = metadata_mut(&mut object);
    let name = resolve_name(kind, meta)?;
    validate_name(kind, &name)?;
    if !kind.namespaced {
        meta.remove("namespace");
    }
    for server_owned in [
        "uid",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        meta.remove(server_owned);
    }
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(clock.timestamp()));
    if kind.generation {
        meta.insert("generation".into(), json!(1));
    }
    object["apiVersion"] = json!(kind.api_version(kind.preferred_version()));
    object["kind"] = json!(kind.kind);
    if kind.kind == "Namespace" {
        object["spec"] = json!({"finalizers": ["kubernetes"]});
    }
    if scope != Scope::All {
        let given = object.as_object_mut().and_then(|o| o.remove("status"));
        if let Some(status) = initial_status(kind, given) {
            object["status"] = status;
        }
    }
    Ok(object)
}

/// What `generation` counts changes of: everything but metadata, and but status where the kind
/// has a status subresource (k8s.io/apiextensions-apiserver pkg/registry/customresource
/// strategy.go customResourceStrategy.PrepareForUpdate: without one, "except for the changes
/// to `metadata`, any other changes cause the generation to increment").
fn spec_part(kind: &Kind, object: &Value) -> Map<String, Value> {
    let mut rest = object.as_object().cloned().unwrap_or_default();
    for k in ["metadata", "apiVersion", "kind"] {
        rest.remove(k);
    }
    if kind.status || kind.builtin {
        rest.remove("status");
    }
    rest
}

fn stale(old: &Value, new: &Value) -> bool {
    let wanted = new["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default();
    !wanted.is_empty()
        && wanted
            != old["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
}

/// The object a write stores: identity and server-owned fields from `old`, the parts `scope`
/// may change from `new`.
pub fn prepare_update(kind: &Kind, old: &Value, new: Value, scope: Scope) -> ApiResult<Value> {
    let (_, name) = ns_name(old);
    check_shape(&new)?;
    if stale(old, &new) {
        return Err(ApiError::stale(kind, &name));
    }
    let given_name = new["metadata"]["name"].as_str().unwrap_or(&name);
    if given_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({given_name}) does not match the name on the URL ({name})"
        )));
    }
    let mut out = match scope {
        Scope::Status => {
            let mut out = old.clone();
            out["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            out
        }
        Scope::Main if kind.status => {
            let mut out = new;
            match old.get("status") {
                Some(s) => out["status"] = s.clone(),
                None => {
                    out.as_object_mut().map(|o| o.remove("status"));
                }
            }
            out
        }
        _ => new,
    };
    if out.get("status") == Some(&Value::Null) {
        out.as_object_mut().map(|o| o.remove("status"));
    }
    let meta = metadata_mut(&mut out);
    for fixed in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "resourceVersion",
        "generation",
    ] {
        match old["metadata"].get(fixed) {
            Some(v) => meta.insert(fixed.into(), v.clone()),
            None => meta.remove(fixed),
        };
    }
    out["apiVersion"] = old["apiVersion"].clone();
    out["kind"] = old["kind"].clone();
    if kind.generation && spec_part(kind, old) != spec_part(kind, &out) {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        out["metadata"]["generation"] = json!(generation);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc1123() {
        assert!(dns_name_problem("vm-1.example", true, 253).is_none());
        assert!(dns_name_problem("vm-1.example", false, 63).is_some());
        assert!(dns_name_problem("Vm", true, 253).is_some());
        assert!(dns_name_problem("-vm", true, 253).is_some());
        assert!(dns_name_problem(&"a".repeat(64), false, 63).is_some());
    }

    #[test]
    fn generated_suffixes_have_five_characters() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}

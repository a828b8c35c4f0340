//! Small accessors for the JSON objects the world's controllers read and write, so controller
//! code reads like the field paths of the reference rather than like `serde_json` plumbing.

use serde_json::{json, Map, Value};

/// The string at a JSON pointer, or "" when absent or not a string.
pub fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn name(object: &Value) -> &str {
    str_at(object, "/metadata/name")
}

pub fn namespace(object: &Value) -> &str {
    str_at(object, "/metadata/namespace")
}

pub fn uid(object: &Value) -> &str {
    str_at(object, "/metadata/uid")
}

pub fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["labels"][key].as_str()
}

pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["annotations"][key].as_str()
}

pub fn deleting(object: &Value) -> bool {
    !object["metadata"]["deletionTimestamp"].is_null()
}

/// The object at `pointer`, created (with every missing parent) as `{}` when absent.
pub fn ensure<'a>(object: &'a mut Value, pointer: &str) -> &'a mut Value {
    let mut at = object;
    for part in pointer.split('/').skip(1) {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        at = at
            .as_object_mut()
            .expect("just made an object")
            .entry(part.to_string())
            .or_insert(Value::Null);
    }
    if at.is_null() {
        *at = Value::Object(Map::new());
    }
    at
}

/// The array at `pointer`, created (with every missing parent) as `[]` when absent.
pub fn ensure_array<'a>(object: &'a mut Value, pointer: &str) -> &'a mut Vec<Value> {
    let at = ensure(object, pointer);
    if !at.is_array() {
        *at = json!([]);
    }
    at.as_array_mut().expect("just made an array")
}

pub fn set_label(object: &mut Value, key: &str, value: &str) {
    ensure(object, "/metadata/labels")[key] = json!(value);
}

pub fn remove_label(object: &mut Value, key: &str) {
    if let Some(labels) = object["metadata"]["labels"].as_object_mut() {
        labels.remove(key);
    }
}

pub fn remove_field(object: &mut Value, parent: &str, key: &str) {
    if let Some(map) = object.pointer_mut(parent).and_then(Value::as_object_mut) {
        map.remove(key);
    }
}

pub fn add_finalizer(object: &mut Value, finalizer: &str) {
    let list = ensure(object, "/metadata/finalizers");
    if !list.is_array() {
        *list = json!([]);
    }
    let list = list.as_array_mut().expect("an array");
    if !list.iter().any(|f| f == finalizer) {
        list.push(json!(finalizer));
    }
}

pub fn remove_finalizer(object: &mut Value, finalizer: &str) {
    if let Some(list) = object["metadata"]["finalizers"].as_array_mut() {
        list.retain(|f| f != finalizer);
    }
}

pub fn finalizers_of(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

pub fn condition<'a>(object: &'a Value, ty: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

/// `Some(true|false)` for a condition with status True/False, `None` when missing.
pub fn condition_is(object: &Value, ty: &str) -> Option<bool> {
    condition(object, ty).map(|c| c["status"] == "True")
}

/// Sets a condition; `lastTransitionTime` only moves when the status changes, as
/// controllers do it.
pub fn set_condition(
    object: &mut Value,
    ty: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: &str,
) {
    let status_str = if status { "True" } else { "False" };
    let conditions = ensure(object, "/status/conditions");
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions.as_array_mut().expect("an array");
    let mut entry = json!({"type": ty, "status": status_str, "lastProbeTime": null,
                           "lastTransitionTime": now});
    if !reason.is_empty() {
        entry["reason"] = json!(reason);
    }
    if !message.is_empty() {
        entry["message"] = json!(message);
    }
    match list.iter_mut().find(|c| c["type"] == ty) {
        Some(existing) => {
            if existing["status"] == status_str {
                entry["lastTransitionTime"] = existing["lastTransitionTime"].clone();
            }
            *existing = entry;
        }
        None => list.push(entry),
    }
}

pub fn remove_condition(object: &mut Value, ty: &str) {
    if let Some(list) = object["status"]["conditions"].as_array_mut() {
        list.retain(|c| c["type"] != ty);
    }
}

/// Labels of `object` as a map.
pub fn labels(object: &Value) -> Map<String, Value> {
    object["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// An equality-only selector map (`{k: v}`) matches when every pair is in `labels`.
pub fn map_selects(selector: &Value, labels: &Map<String, Value>) -> bool {
    selector
        .as_object()
        .is_none_or(|s| s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// One `matchExpressions` requirement against a label value (`None`: the label is absent).
pub fn requirement_holds(expr: &Value, actual: Option<&str>) -> bool {
    let values: Vec<&str> = expr["values"]
        .as_array()
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match str_at(expr, "/operator") {
        "In" => actual.is_some_and(|a| values.contains(&a)),
        "NotIn" => actual.is_none_or(|a| !values.contains(&a)),
        "Exists" => actual.is_some(),
        "DoesNotExist" => actual.is_none(),
        _ => false,
    }
}

/// A metav1.LabelSelector: `matchLabels` and every `matchExpressions` requirement; an empty
/// selector selects everything.
pub fn label_selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    let exprs = selector["matchExpressions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    map_selects(&selector["matchLabels"], labels)
        && exprs
            .iter()
            .all(|e| requirement_holds(e, labels.get(str_at(e, "/key")).and_then(Value::as_str)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_their_transition_time_while_the_status_holds() {
        let mut o = json!({});
        set_condition(&mut o, "Ready", true, "", "", "t1");
        set_condition(&mut o, "Ready", true, "Again", "", "t2");
        assert_eq!(condition(&o, "Ready").unwrap()["lastTransitionTime"], "t1");
        set_condition(&mut o, "Ready", false, "Down", "", "t3");
        assert_eq!(condition(&o, "Ready").unwrap()["lastTransitionTime"], "t3");
        assert_eq!(condition_is(&o, "Ready"), Some(false));
        remove_condition(&mut o, "Ready");
        assert_eq!(condition_is(&o, "Ready"), None);
    }

    #[test]
    fn ensure_builds_missing_parents() {
        let mut o = json!({"a": 1});
        ensure(&mut o, "/status/memory")["guestAtBoot"] = json!("1Gi");
        assert_eq!(o["status"]["memory"]["guestAtBoot"], "1Gi");
        assert_eq!(o["a"], 1);
    }
}

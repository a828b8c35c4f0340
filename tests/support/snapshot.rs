//! The cluster as a whole, read through API discovery: every object of every kind the API
//! serves with `list`, and every node's labels, annotations, taints and `unschedulable`.
//! Two snapshots, before and after a run, show what the run left, removed or changed,
//! without asking the harness's own sweeper which kinds to look at: a kind added later is
//! covered without editing this file.

use std::collections::BTreeMap;

use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{verbs, ApiResource, Discovery};
use serde_json::Value;

/// Kinds whose objects come and go by themselves and are not anybody's leftovers: events
/// expire after kube-apiserver's `--event-ttl` (one hour by default), leases are renewed by
/// their holders.
const SELF_EXPIRING: &[&str] = &["Event", "Lease"];

/// One object as the comparison needs it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    uid: String,
    /// The UID of the owner reference with `controller: true`, if any.
    controller: Option<String>,
    /// What the user set on it: `spec` and `data` (a Node: labels, annotations, taints,
    /// unschedulable). Status and metadata bookkeeping are the cluster's.
    content: Value,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    /// `group/version/Kind namespace/name` → what was seen.
    objects: BTreeMap<String, Seen>,
    /// Kinds that could not be listed, with the error.
    pub problems: Vec<String>,
}

impl Snapshot {
    pub async fn take(client: &kube::Client) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let discovery =
            vstp::cluster::retry::retrying(|| Discovery::new(client.clone()).run()).await;
        let discovery = match discovery {
            Ok(d) => d,
            Err(e) => {
                snapshot.problems.push(format!("API discovery failed: {e}"));
                return snapshot;
            }
        };
        for group in discovery.groups() {
            for (resource, caps) in group.recommended_resources() {
                if caps.supports_operation(verbs::LIST)
                    && !SELF_EXPIRING.contains(&resource.kind.as_str())
                {
                    snapshot.add(client, &resource).await;
                }
            }
        }
        snapshot
    }

    /// Every object of `resource`, in every namespace when it is namespaced.
    async fn add(&mut self, client: &kube::Client, resource: &ApiResource) {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
        let params = ListParams::default();
        match vstp::cluster::retry::retrying(|| api.list(&params)).await {
            Ok(list) => {
                for object in list.items {
                    let value = serde_json::to_value(&object).unwrap_or_default();
                    let key = format!(
                        "{}/{} {}/{}",
                        resource.api_version,
                        resource.kind,
                        object.metadata.namespace.as_deref().unwrap_or(""),
                        object.metadata.name.as_deref().unwrap_or("")
                    );
                    self.objects.insert(key, seen(&resource.kind, &value));
                }
            }
            Err(e) => self.problems.push(format!(
                "listing {}/{} failed: {e}",
                resource.api_version, resource.kind
            )),
        }
    }

    /// What `after` has that this snapshot had not, lacks that it had, or changed, one line
    /// each. Objects a controller that was already there replaced (a ReplicaSet's pod moved by
    /// a drain) are the cluster's own doing, not the run's.
    pub fn changes_to(&self, after: &Snapshot) -> Vec<String> {
        let owners_before: Vec<&str> = self.objects.values().map(|s| s.uid.as_str()).collect();
        let owners_after: Vec<&str> = after.objects.values().map(|s| s.uid.as_str()).collect();
        let replaced = |seen: &Seen, owners: &[&str]| {
            seen.controller
                .as_deref()
                .is_some_and(|c| owners.contains(&c))
        };
        let mut lines = Vec::new();
        for (key, was) in &self.objects {
            match after.objects.get(key) {
                None if replaced(was, &owners_after) => {}
                None => lines.push(format!("removed: {key}")),
                Some(now) if now.uid != was.uid && replaced(now, &owners_before) => {}
                Some(now) if now.uid != was.uid => lines.push(format!("recreated: {key}")),
                Some(now) if now.content != was.content => lines.push(format!(
                    "changed: {key}: before {}, after {}",
                    was.content, now.content
                )),
                Some(_) => {}
            }
        }
        for (key, now) in &after.objects {
            if !self.objects.contains_key(key) && !replaced(now, &owners_before) {
                lines.push(format!("left behind: {key}"));
            }
        }
        lines.extend(after.problems.iter().map(|p| format!("problem: {p}")));
        lines
    }
}

fn seen(kind: &str, object: &Value) -> Seen {
    let metadata = &object["metadata"];
    let controller = metadata["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["controller"] == true)
        .and_then(|r| r["uid"].as_str())
        .map(String::from);
    let content = if kind == "Node" {
        serde_json::json!({
            "labels": metadata["labels"], "annotations": metadata["annotations"],
            "taints": object["spec"]["taints"], "unschedulable": object["spec"]["unschedulable"],
        })
    } else {
        serde_json::json!({"spec": object["spec"], "data": object["data"]})
    };
    Seen {
        uid: metadata["uid"].as_str().unwrap_or("").to_string(),
        controller,
        content,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(uid: &str, controller: Option<&str>, spec: Value) -> Seen {
        Seen {
            uid: uid.into(),
            controller: controller.map(String::from),
            content: spec,
        }
    }

    fn snapshot(objects: &[(&str, Seen)]) -> Snapshot {
        Snapshot {
            objects: objects
                .iter()
                .map(|(k, s)| (k.to_string(), s.clone()))
                .collect(),
            problems: vec![],
        }
    }

    #[test]
    fn a_new_object_a_removed_one_and_a_changed_spec_are_named() {
        let rs = ("apps/v1/ReplicaSet ns/rs", object("rs", None, Value::Null));
        let before = snapshot(&[
            rs.clone(),
            ("v1/Pod ns/rs-a", object("a", Some("rs"), Value::Null)),
            (
                "v1/ConfigMap ns/mine",
                object("cm", None, serde_json::json!(1)),
            ),
            (
                "v1/Node /w0",
                object("w0", None, serde_json::json!({"unschedulable": null})),
            ),
        ]);
        let after = snapshot(&[
            rs,
            ("v1/Pod ns/rs-b", object("b", Some("rs"), Value::Null)),
            (
                "v1/Node /w0",
                object("w0", None, serde_json::json!({"unschedulable": true})),
            ),
            ("v1/Namespace /vstp-x", object("ns", None, Value::Null)),
        ]);
        let lines = before.changes_to(&after);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines[0].starts_with("removed: v1/ConfigMap ns/mine"),
            "{lines:#?}"
        );
        assert!(lines[1].starts_with("changed: v1/Node /w0"), "{lines:#?}");
        assert!(
            lines[2].starts_with("left behind: v1/Namespace /vstp-x"),
            "{lines:#?}"
        );
    }
}

//! Objects as kube-apiserver writes them: it decodes the stored object into its Go type and
//! encodes it with `encoding/json`, so a field tagged `omitempty` that is nil or empty is
//! absent, never `null`. The controllers build plain JSON and may leave a `null` behind (a
//! `status.conditions` not yet filled in); clients read the wire form, and some of them tell
//! absent from null: kubectl wait's `unstructured.NestedSlice` fails on a null
//! `.status.conditions` ("accessor error: <nil>") where it waits on an absent one.

use serde_json::Value;

/// `metav1.Time` fields: a struct, which `omitempty` never drops, whose zero value encodes as
/// `null` (k8s.io/apimachinery pkg/apis/meta/v1/time.go `Time.MarshalJSON`). Their `null`
/// stays, as on a cluster (`lastProbeTime: null` in every KubeVirt condition).
const GO_TIME_FIELDS: &[&str] = &[
    "creationTimestamp",
    "lastProbeTime",
    "lastTransitionTime",
    "lastHeartbeatTime",
    "lastSuccessfulUpdateTime",
];

/// `bool` fields tagged `omitempty`, whose `false` Go's encoder drops (kind, `spec` field):
/// kubernetes pkg/apis/core/v1 types.go NodeSpec `Unschedulable bool
/// json:"unschedulable,omitempty"`, so an uncordon that writes `false` leaves no field.
const FALSE_OMITTED: &[(&str, &str)] = &[("Node", "unschedulable")];

/// The object as Go encodes it: `null`s dropped (but for `metav1.Time` fields), and empty
/// lists inside `status` dropped (every status list of the served kinds is `omitempty`, e.g.
/// kubevirt v1.9.0 staging/src/kubevirt.io/api/core/v1/types.go VirtualMachineInstanceStatus).
pub fn shaped(object: &Value) -> Value {
    let mut out = object.clone();
    omit_empty(&mut out, false);
    for (kind, field) in FALSE_OMITTED {
        if out["kind"] == *kind && out["spec"][field] == false {
            if let Some(spec) = out["spec"].as_object_mut() {
                spec.remove(*field);
            }
        }
    }
    out
}

fn omit_empty(value: &mut Value, in_status: bool) {
    match value {
        Value::Object(map) => {
            map.retain(|key, v| match v {
                Value::Null => GO_TIME_FIELDS.contains(&key.as_str()),
                Value::Array(a) => !(a.is_empty() && in_status),
                _ => true,
            });
            for (key, v) in map.iter_mut() {
                omit_empty(v, in_status || key == "status");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| omit_empty(v, in_status)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_and_empty_status_lists_go_but_go_times_and_spec_lists_stay() {
        let o = json!({
            "metadata": {"name": "x", "labels": null, "creationTimestamp": null},
            "spec": {"volumes": [], "nodeSelector": null},
            "status": {"conditions": null, "interfaces": [],
                       "phaseTransitionTimestamps": [{"phase": "Pending", "reason": null}],
                       "memory": {"guestAtBoot": null},
                       "activePods": {}},
        });
        let want = json!({
            "metadata": {"name": "x", "creationTimestamp": null},
            "spec": {"volumes": []},
            "status": {"phaseTransitionTimestamps": [{"phase": "Pending"}],
                       "memory": {}, "activePods": {}},
        });
        assert_eq!(shaped(&o), want);
    }

    #[test]
    fn an_uncordoned_node_has_no_unschedulable_field() {
        let uncordoned = json!({"kind": "Node", "spec": {"unschedulable": false, "taints": []}});
        assert_eq!(
            shaped(&uncordoned),
            json!({"kind": "Node", "spec": {"taints": []}})
        );
        let cordoned = json!({"kind": "Node", "spec": {"unschedulable": true}});
        assert_eq!(shaped(&cordoned), cordoned);
    }
}

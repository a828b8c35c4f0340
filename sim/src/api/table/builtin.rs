//! Tables of the built-in kinds, as kube-apiserver prints them: column definitions and cells of
//! kubernetes v1.32 pkg/printers/internalversion/printers.go (`AddHandlers` and the `print*`
//! function each kind names below). The server always prints wide; kubectl drops the
//! priority-1 columns unless `-o wide`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::age::since;
use super::{Column, Row};
use crate::kinds::{self, KindId};

const fn c(name: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty: "string",
        format: "",
        priority: 0,
        description,
    }
}

const fn wide(column: Column) -> Column {
    Column {
        priority: 1,
        ..column
    }
}

const AGE: Column = c(
    "Age",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

pub fn columns(kind: KindId) -> Option<Vec<Column>> {
    let name = Column::name();
    let cols = match kind {
        kinds::PODS => vec![
            name,
            c("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            c("Status", "The aggregate status of the containers in this pod."),
            c("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
            AGE,
            wide(c("IP", "podIP address allocated to the pod.")),
            wide(c("Node", "NodeName indicates in which node this pod is scheduled.")),
            wide(c("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node.")),
            wide(c("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.")),
        ],
        kinds::NODES => vec![
            name,
            c("Status", "The status of the node"),
            c("Roles", "The roles of the node"),
            AGE,
            c("Version", "Kubelet Version reported by the node."),
            wide(c("Internal-IP", "List of addresses reachable to the node.")),
            wide(c("External-IP", "List of addresses reachable to the node.")),
            wide(c("OS-Image", "OS Image reported by the node from /etc/os-release.")),
            wide(c("Kernel-Version", "Kernel Version reported by the node from 'uname -r'.")),
            wide(c("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API.")),
        ],
        kinds::NAMESPACES => vec![name, c("Status", "The status of the namespace"), AGE],
        kinds::SECRETS => vec![name, c("Type", "Used to facilitate programmatic handling of secret data."), c("Data", "Data contains the secret data."), AGE],
        kinds::CONFIGMAPS => vec![name, c("Data", "Data contains the configuration data."), AGE],
        kinds::SERVICEACCOUNTS => vec![name, c("Secrets", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."), AGE],
        kinds::EVENTS => vec![
            c("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
            c("Type", "Type of this event (Normal, Warning)."),
            c("Reason", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
            c("Object", "The object that this event is about."),
            wide(c("Subobject", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.")),
            wide(c("Source", "The component reporting this event.")),
            c("Message", "A human-readable description of the status of this operation."),
            wide(c("First Seen", "The time at which the event was first recorded.")),
            wide(c("Count", "The number of times this event has occurred.")),
            wide(Column::name()),
        ],
        kinds::PVCS => vec![
            name,
            c("Status", "phase represents the current phase of PersistentVolumeClaim."),
            c("Volume", "volumeName is the binding reference to the PersistentVolume backing this claim."),
            c("Capacity", "capacity represents the actual resources of the underlying volume."),
            c("Access Modes", "accessModes contains the actual access modes the volume backing the PVC has."),
            c("StorageClass", "StorageClass of the pvc"),
            c("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
            AGE,
            wide(c("VolumeMode", "volumeMode defines what type of volume is required by the claim.")),
        ],
        _ => return None,
    };
    Some(cols)
}

pub fn row(kind: KindId, o: &Value, now: DateTime<Utc>) -> Row {
    let name = o["metadata"]["name"].clone();
    let age = json!(since(&o["metadata"]["creationTimestamp"], now));
    let count = |v: &Value| json!(v.as_object().map_or(0, |m| m.len()));
    let cells = match kind {
        kinds::PODS => return super::pod::row(o, now),
        kinds::NODES => node(o, now),
        kinds::NAMESPACES => vec![
            name,
            json!(o["status"]["phase"].as_str().unwrap_or("")),
            age,
        ],
        kinds::SECRETS => vec![
            name,
            json!(o["type"].as_str().unwrap_or("")),
            count(&o["data"]),
            age,
        ],
        kinds::CONFIGMAPS => {
            let n = o["data"].as_object().map_or(0, |m| m.len())
                + o["binaryData"].as_object().map_or(0, |m| m.len());
            vec![name, json!(n), age]
        }
        kinds::SERVICEACCOUNTS => {
            vec![
                name,
                json!(o["secrets"].as_array().map_or(0, |a| a.len())),
                age,
            ]
        }
        kinds::EVENTS => event(o, now),
        kinds::PVCS => pvc(o, now),
        _ => vec![name, age],
    };
    Row {
        cells,
        conditions: None,
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// `printNode`: Ready or NotReady (Unknown without the condition), SchedulingDisabled when
/// cordoned; roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role` labels
/// (`findNodeRoles`), sorted.
fn node(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ready = o["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let mut status = vec![match ready {
        Some(c) if c["status"] == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if o["spec"]["unschedulable"] == true {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<String> = o["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
            Some(role) if !role.is_empty() => Some(role.to_string()),
            Some(_) => None,
            None if k == "kubernetes.io/role" && !text(v).is_empty() => Some(text(v).to_string()),
            None => None,
        })
        .collect();
    roles.sort();
    roles.dedup();
    let info = &o["status"]["nodeInfo"];
    let known = |v: &Value| match text(v) {
        "" => "<unknown>".to_string(),
        s => s.to_string(),
    };
    let address = |ty: &str| {
        o["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["type"] == ty)
            .map_or("<none>".to_string(), |a| text(&a["address"]).to_string())
    };
    vec![
        o["metadata"]["name"].clone(),
        json!(status.join(",")),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        json!(since(&o["metadata"]["creationTimestamp"], now)),
        json!(text(&info["kubeletVersion"])),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(known(&info["osImage"])),
        json!(known(&info["kernelVersion"])),
        json!(known(&info["containerRuntimeVersion"])),
    ]
}

/// `printEvent` (wide): ages of the last and first occurrence (eventTime when the legacy
/// timestamps are absent), `kind/name` of the object, source as `component, host`.
fn event(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first = if o["firstTimestamp"].is_string() {
        since(&o["firstTimestamp"], now)
    } else {
        since(&o["eventTime"], now)
    };
    let mut last = if o["lastTimestamp"].is_string() {
        since(&o["lastTimestamp"], now)
    } else {
        first.clone()
    };
    let mut count = o["count"].as_i64().unwrap_or(0);
    if o["series"].is_object() {
        last = since(&o["series"]["lastObservedTime"], now);
        count = o["series"]["count"].as_i64().unwrap_or(0);
    } else if count == 0 {
        count = 1;
    }
    let involved = &o["involvedObject"];
    let kind = text(&involved["kind"]).to_lowercase();
    let target = match text(&involved["name"]) {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let or = |a: &Value, b: &Value| match text(a) {
        "" => text(b).to_string(),
        s => s.to_string(),
    };
    let component = or(&o["source"]["component"], &o["reportingComponent"]);
    let host = or(&o["source"]["host"], &o["reportingInstance"]);
    let source = if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(text(&o["type"])),
        json!(text(&o["reason"])),
        json!(target),
        json!(text(&involved["fieldPath"])),
        json!(source),
        json!(text(&o["message"]).trim()),
        json!(first),
        json!(count),
        o["metadata"]["name"].clone(),
    ]
}

/// `printPersistentVolumeClaim`: capacity and access modes only once bound to a volume.
fn pvc(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let spec = &o["spec"];
    let phase = if o["metadata"]["deletionTimestamp"].is_string() {
        "Terminating"
    } else {
        text(&o["status"]["phase"])
    };
    let bound = !text(&spec["volumeName"]).is_empty();
    let (capacity, modes) = if bound {
        (
            text(&o["status"]["capacity"]["storage"]).to_string(),
            access_modes(&o["status"]["accessModes"]),
        )
    } else {
        (String::new(), String::new())
    };
    let class = match text(&spec["storageClassName"]) {
        "" => text(&o["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"]),
        s => s,
    };
    let unset = |v: &Value| match text(v) {
        "" => "<unset>".to_string(),
        s => s.to_string(),
    };
    vec![
        o["metadata"]["name"].clone(),
        json!(phase),
        json!(text(&spec["volumeName"])),
        json!(capacity),
        json!(modes),
        json!(class),
        json!(unset(&spec["volumeAttributesClassName"])),
        json!(since(&o["metadata"]["creationTimestamp"], now)),
        json!(unset(&spec["volumeMode"])),
    ]
}

/// pkg/apis/core/helper `GetAccessModesAsString`: short names in a fixed order.
fn access_modes(modes: &Value) -> String {
    let has = |m: &str| modes.as_array().is_some_and(|a| a.iter().any(|v| v == m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(long, _)| has(long))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cordoned_worker_reads_ready_scheduling_disabled_with_its_roles() {
        let n = json!({"metadata": {"name": "worker-0", "labels": {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/infra": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.32.4"},
                       "addresses": [{"type": "InternalIP", "address": "192.168.0.10"}]}});
        let cells = node(&n, Utc::now());
        assert_eq!(cells[1], "Ready,SchedulingDisabled");
        assert_eq!(cells[2], "infra,worker");
        assert_eq!(cells[4], "v1.32.4");
        assert_eq!(cells[5], "192.168.0.10");
        assert_eq!(cells[6], "<none>");
        assert_eq!(cells[7], "<unknown>");
    }

    #[test]
    fn an_event_names_its_object_and_counts_one_when_unset() {
        let e = json!({"metadata": {"name": "vm1.1"}, "type": "Normal", "reason": "Started",
            "involvedObject": {"kind": "VirtualMachineInstance", "name": "vm1"},
            "source": {"component": "virt-handler", "host": "worker-0"}, "message": " VMI started \n"});
        let cells = event(&e, Utc::now());
        assert_eq!(cells[3], "virtualmachineinstance/vm1");
        assert_eq!(cells[5], "virt-handler, worker-0");
        assert_eq!(cells[6], "VMI started");
        assert_eq!(cells[8], 1);
    }

    #[test]
    fn an_unbound_claim_shows_no_capacity() {
        let p = json!({"metadata": {"name": "d"}, "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "nfs"},
                       "status": {"phase": "Pending"}});
        let cells = pvc(&p, Utc::now());
        assert_eq!(
            (cells[1].clone(), cells[3].clone(), cells[5].clone()),
            (json!("Pending"), json!(""), json!("nfs"))
        );
        assert_eq!(
            access_modes(&json!(["ReadWriteMany", "ReadWriteOnce"])),
            "RWO,RWX"
        );
    }
}

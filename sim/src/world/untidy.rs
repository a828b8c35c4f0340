//! The nodes a real cluster has besides the tidy workers, each shaped as the component that
//! owns it leaves it: an OpenShift infra node reserved by a taint, a worker whose kubelet
//! stopped reporting, a worker cabled with only its cluster NIC, and a worker whose spare
//! NICs are taken (one in a bond, one down). A harness must keep its VMs, peers and drains
//! off the first two, and its node network policies off all four.

use serde_json::{json, Value};

use super::spec::ClusterSpec;

/// The infra node's name.
pub const INFRA: &str = "infra-0";

/// When the NotReady worker was last heard of: long enough ago for every controller that
/// watches heartbeats to have given up on it.
const LAST_HEARD: &str = "2026-01-01T00:00:00Z";

/// The untidy nodes of `spec`: `infra-0`, then the NotReady worker, the worker without
/// spare NICs and the worker whose spare NICs are taken, named after the tidy workers
/// (`worker-<workers>` to `worker-<workers + 2>`).
pub fn nodes(spec: &ClusterSpec) -> Vec<Value> {
    let n = spec.workers;
    vec![
        infra(spec),
        not_ready(spec, &format!("worker-{n}"), 10 + n),
        cluster_nic_only(spec, &format!("worker-{}", n + 1), 11 + n),
        spare_nics_taken(spec, &format!("worker-{}", n + 2), 12 + n),
    ]
}

/// The NIC the taken worker bonds with its second NIC.
pub const BOND_PEER_NIC: &str = "eth3";

/// A Ready, schedulable worker whose second NIC is bonded with `eth3` into `bond0` (a storage
/// network's address on the bond) and whose third NIC's link is down. A bridge on the second
/// NIC would take it out of the bond (nmstate moves a port without asking), and one on the
/// third carries nothing; the NodeNetworkState shows both (`controllers/nmstate/initial.rs`).
fn spare_nics_taken(spec: &ClusterSpec, name: &str, index: usize) -> Value {
    use crate::controllers::nmstate::initial::{BOND, NICS_DOWN};
    let mut node = spec.node(name, true, index);
    let mut nics = spec.nics.clone();
    let annotations = &mut node["metadata"]["annotations"];
    if let Some(second) = spec.nics.get(1) {
        nics.push(BOND_PEER_NIC.to_string());
        let bond = format!("bond0={second},{BOND_PEER_NIC}=172.16.0.{}", 20 + index);
        annotations[BOND] = json!(bond);
    }
    if let Some(third) = spec.nics.get(2) {
        annotations[NICS_DOWN] = json!(third);
    }
    annotations["vstp.io/nics"] = json!(nics.join(","));
    node
}

/// An OpenShift infra node: a worker (it keeps the worker role label, as a node of the
/// worker machine config pool) labelled `node-role.kubernetes.io/infra` and tainted
/// `reserved` so that only infrastructure pods that tolerate it land there (OpenShift
/// documentation "Creating infrastructure machine sets", "Moving resources to infrastructure
/// machine sets"). virt-handler does not tolerate the taint: its DaemonSet carries only the
/// tolerations of the KubeVirt CR's `spec.workloads.nodePlacement` (kubevirt
/// pkg/virt-operator/resource/apply/apps.go injectPlacementMetadata), so no heartbeat ever
/// labels the node `kubevirt.io/schedulable` (pkg/virt-handler/heartbeat/heartbeat.go do).
fn infra(spec: &ClusterSpec) -> Value {
    let mut node = spec.node(INFRA, true, 9);
    let labels = &mut node["metadata"]["labels"];
    labels["node-role.kubernetes.io/infra"] = json!("");
    if let Some(labels) = labels.as_object_mut() {
        labels.remove("kubevirt.io/schedulable");
    }
    node["spec"]["taints"] = json!([
        {"key": "node-role.kubernetes.io/infra", "value": "reserved", "effect": "NoSchedule"},
        {"key": "node-role.kubernetes.io/infra", "value": "reserved", "effect": "NoExecute"}]);
    node
}

/// A worker whose kubelet stopped posting its status, after the controllers reacted:
/// - kubernetes pkg/controller/nodelifecycle/node_lifecycle_controller.go tryUpdateNodeHealth
///   sets every kubelet condition Unknown, reason NodeStatusUnknown;
/// - doNoScheduleTaintingPass and doNoExecuteTaintingPass taint a node whose Ready is
///   Unknown `node.kubernetes.io/unreachable` (NoSchedule, and NoExecute with timeAdded);
/// - kubevirt pkg/virt-controller/watch/node/node.go Controller.execute finds virt-handler's
///   `kubevirt.io/heartbeat` stale (isNodeUnresponsive) and markNodeAsUnresponsive labels the
///   node `kubevirt.io/schedulable=false`.
fn not_ready(spec: &ClusterSpec, name: &str, index: usize) -> Value {
    let mut node = spec.node(name, true, index);
    node["metadata"]["labels"]["kubevirt.io/schedulable"] = json!("false");
    node["metadata"]["annotations"]["kubevirt.io/heartbeat"] = json!(LAST_HEARD);
    node["spec"]["taints"] = json!([
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": LAST_HEARD},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": LAST_HEARD}]);
    let unknown = |ty: &str| {
        json!({"type": ty, "status": "Unknown", "reason": "NodeStatusUnknown",
               "message": "Kubelet stopped posting node status.",
               "lastHeartbeatTime": LAST_HEARD, "lastTransitionTime": LAST_HEARD})
    };
    node["status"]["conditions"] = json!([
        unknown("MemoryPressure"),
        unknown("DiskPressure"),
        unknown("PIDPressure"),
        unknown("Ready")
    ]);
    node
}

/// A Ready, schedulable worker cabled with its cluster NIC only: a Linux bridge on a spare
/// NIC cannot be built there, and a VM bridged there reaches nobody.
fn cluster_nic_only(spec: &ClusterSpec, name: &str, index: usize) -> Value {
    let mut node = spec.node(name, true, index);
    let first = spec.nics.first().cloned().unwrap_or_default();
    node["metadata"]["annotations"]["vstp.io/nics"] = json!(first);
    node
}

//! Which nodes the harness puts VMs, peers, node network policies and drains on: the workers
//! that are Ready, cordoned by nobody, labelled `kubevirt.io/schedulable=true` by a live
//! virt-handler, free of taints a VM does not tolerate, and not control planes unless the
//! cluster is compact. Every other node is kept with the reasons it was left out, so an error
//! about too few nodes can say which were excluded and why.

use std::fmt;

use anyhow::Context as _;
use kube::api::ListParams;
use serde_json::Value;

use super::kinds::{self, to_value};
use super::nic_safety::{self, NicHazard};
use super::retry::retrying;

const WORKER: &str = "node-role.kubernetes.io/worker";
const CONTROL_PLANE: [&str; 2] = [
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];
/// virt-handler's heartbeat sets it `true` while the node can run VMs, virt-controller sets it
/// `false` when the heartbeat goes stale, and every virt-launcher pod selects it (kubevirt
/// pkg/virt-handler/heartbeat/heartbeat.go do, pkg/virt-controller/watch/node/node.go
/// markNodeAsUnresponsive, pkg/virt-controller/services/nodeselectorrenderer.go).
const VIRT_SCHEDULABLE: &str = "kubevirt.io/schedulable";

/// Why a node is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusion {
    NotWorker,
    /// A control plane in a cluster that has dedicated workers.
    ControlPlane,
    /// The Ready condition is not True: (status, reason, message).
    NotReady(String, String, String),
    Cordoned,
    /// `kubevirt.io/schedulable` is not `true`: its value, if any.
    NotVirtSchedulable(Option<String>),
    /// Taints a VM without tolerations does not tolerate, as `key=value:effect`.
    Tainted(Vec<String>),
    /// The node's NodeNetworkState has no interface of this name.
    NoNic(String),
    /// The NIC is there, but a policy that takes it would cut the node off or steal it.
    UnsafeNic(String, Vec<NicHazard>),
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::NotWorker => write!(f, "no {WORKER} label"),
            Exclusion::ControlPlane => {
                write!(f, "a control plane, and the cluster has dedicated workers")
            }
            Exclusion::NotReady(status, reason, message) => {
                write!(f, "not Ready (Ready={status} {reason}: {message})")
            }
            Exclusion::Cordoned => write!(f, "cordoned (spec.unschedulable)"),
            Exclusion::NotVirtSchedulable(Some(v)) => write!(f, "{VIRT_SCHEDULABLE}={v}"),
            Exclusion::NotVirtSchedulable(None) => {
                write!(
                    f,
                    "no {VIRT_SCHEDULABLE} label (virt-handler does not run there)"
                )
            }
            Exclusion::Tainted(taints) => write!(f, "tainted {}", taints.join(", ")),
            Exclusion::NoNic(nic) => write!(f, "no NIC {nic} in its NodeNetworkState"),
            Exclusion::UnsafeNic(nic, hazards) => {
                let each: Vec<String> = hazards.iter().map(ToString::to_string).collect();
                write!(f, "NIC {nic} {}", each.join(" and "))
            }
        }
    }
}

/// A node the harness may use: its name, its `kubernetes.io/hostname` label, which a node
/// network policy's label selector aims at (it need not equal the name), and the addresses
/// its status lists (to tell the node's own IP on a NIC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsableNode {
    pub name: String,
    pub hostname: String,
    pub addresses: Vec<String>,
}

/// A node left out, with every reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excluded {
    pub name: String,
    pub why: Vec<Exclusion>,
}

/// The usable nodes of a cluster, and the others with their reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSelection {
    pub usable: Vec<UsableNode>,
    pub excluded: Vec<Excluded>,
}

impl NodeSelection {
    /// Sorts `nodes` (Node objects) into usable and excluded.
    pub fn classify(nodes: &[Value]) -> NodeSelection {
        let compact = nodes
            .iter()
            .filter(|n| has_label(n, WORKER))
            .all(is_control_plane);
        let mut selection = NodeSelection::default();
        for node in nodes {
            let name = node["metadata"]["name"].as_str().unwrap_or("").to_string();
            let why = exclusions(node, compact);
            if why.is_empty() {
                let hostname = node["metadata"]["labels"]["kubernetes.io/hostname"]
                    .as_str()
                    .unwrap_or(&name)
                    .to_string();
                let addresses = ip_addresses(node);
                selection.usable.push(UsableNode {
                    name,
                    hostname,
                    addresses,
                });
            } else {
                selection.excluded.push(Excluded { name, why });
            }
        }
        selection
    }

    /// Keeps the usable nodes whose NodeNetworkState (in `states`) lists `nic` and where a
    /// policy may take it (`nic_safety::hazards`; ports of `own`, the bridges the harness's
    /// policy declares, are fine); the others join the excluded with the reason.
    pub fn with_nic(mut self, states: &[Value], nic: &str, own: &[&str]) -> NodeSelection {
        let mut kept = Vec::new();
        for node in std::mem::take(&mut self.usable) {
            let state = states.iter().find(|s| s["metadata"]["name"] == *node.name);
            let current = state.map_or(&Value::Null, |s| &s["status"]["currentState"]);
            let listed = current["interfaces"]
                .as_array()
                .is_some_and(|all| all.iter().any(|i| i["name"] == nic));
            let hazards = nic_safety::hazards(current, nic, &node.addresses, own);
            let why = if !listed {
                Exclusion::NoNic(nic.to_string())
            } else if !hazards.is_empty() {
                Exclusion::UnsafeNic(nic.to_string(), hazards)
            } else {
                kept.push(node);
                continue;
            };
            self.excluded.push(Excluded {
                name: node.name,
                why: vec![why],
            });
        }
        self.usable = kept;
        self
    }

    pub fn names(&self) -> Vec<String> {
        self.usable.iter().map(|n| n.name.clone()).collect()
    }

    /// "infra-0: tainted …; worker-3: not Ready (…)", or "none".
    pub fn excluded_summary(&self) -> String {
        if self.excluded.is_empty() {
            return "none".into();
        }
        let each: Vec<String> = self
            .excluded
            .iter()
            .map(|e| {
                let why: Vec<String> = e.why.iter().map(ToString::to_string).collect();
                format!("{}: {}", e.name, why.join(", "))
            })
            .collect();
        each.join("; ")
    }

    /// The usable nodes when there are at least `count`; else an error naming the usable
    /// nodes and every excluded one with its reasons.
    pub fn at_least(&self, count: usize, purpose: &str) -> anyhow::Result<&[UsableNode]> {
        if self.usable.len() >= count {
            return Ok(&self.usable);
        }
        anyhow::bail!(
            "{purpose} needs {count} usable node(s), found {} {:?}; excluded: {}",
            self.usable.len(),
            self.names(),
            self.excluded_summary()
        )
    }
}

/// The cluster's nodes, sorted into usable and excluded.
pub async fn select(client: &kube::Client) -> anyhow::Result<NodeSelection> {
    let (params, api) = (ListParams::default(), kinds::NODE.api(client, ""));
    let listed = retrying(|| api.list(&params))
        .await
        .context("cannot list the nodes to choose the usable ones")?;
    let nodes: Vec<Value> = listed.items.iter().map(to_value).collect();
    Ok(NodeSelection::classify(&nodes))
}

/// The usable nodes that have `nic` and may give it to a policy building the bridges `own`,
/// by their NodeNetworkStates.
pub async fn with_nic(
    client: &kube::Client,
    nic: &str,
    own: &[&str],
) -> anyhow::Result<NodeSelection> {
    let selection = select(client).await?;
    let (params, api) = (ListParams::default(), kinds::NNS.all(client));
    let states = retrying(|| api.list(&params))
        .await
        .with_context(|| format!("cannot read the NodeNetworkStates to find NIC {nic}"))?;
    let states: Vec<Value> = states.items.iter().map(to_value).collect();
    Ok(selection.with_nic(&states, nic, own))
}

/// The InternalIP and ExternalIP addresses of `node`'s status.
fn ip_addresses(node: &Value) -> Vec<String> {
    node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| matches!(a["type"].as_str(), Some("InternalIP" | "ExternalIP")))
        .filter_map(|a| a["address"].as_str().map(String::from))
        .collect()
}

fn has_label(node: &Value, key: &str) -> bool {
    node["metadata"]["labels"][key].is_string()
}

fn is_control_plane(node: &Value) -> bool {
    CONTROL_PLANE.iter().any(|k| has_label(node, k))
}

/// Every reason to leave `node` out; none when it is usable. In a compact cluster (no
/// worker that is not also a control plane) the control planes are the workers.
fn exclusions(node: &Value, compact: bool) -> Vec<Exclusion> {
    let mut why = Vec::new();
    if !has_label(node, WORKER) {
        why.push(Exclusion::NotWorker);
    } else if is_control_plane(node) && !compact {
        why.push(Exclusion::ControlPlane);
    }
    if let Some(not_ready) = not_ready(node) {
        why.push(not_ready);
    }
    if node["spec"]["unschedulable"] == true {
        why.push(Exclusion::Cordoned);
    }
    let virt = node["metadata"]["labels"][VIRT_SCHEDULABLE].as_str();
    if virt != Some("true") {
        why.push(Exclusion::NotVirtSchedulable(virt.map(String::from)));
    }
    let taints = untolerated_taints(node);
    if !taints.is_empty() {
        why.push(Exclusion::Tainted(taints));
    }
    why
}

/// The Ready condition when it is not True (missing counts as Unknown).
fn not_ready(node: &Value) -> Option<Exclusion> {
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready");
    let field = |k: &str| ready.and_then(|c| c[k].as_str()).unwrap_or("").to_string();
    let status = ready
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown");
    (status != "True")
        .then(|| Exclusion::NotReady(status.into(), field("reason"), field("message")))
}

/// Taints that keep the harness's VMs (which carry no tolerations) off the node:
/// NoSchedule and NoExecute; PreferNoSchedule only ranks nodes (kubernetes
/// pkg/scheduler/framework/plugins/tainttoleration Filter looks at the first two).
fn untolerated_taints(node: &Value) -> Vec<String> {
    node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| matches!(t["effect"].as_str(), Some("NoSchedule" | "NoExecute")))
        .map(|t| {
            let key = t["key"].as_str().unwrap_or("");
            let effect = t["effect"].as_str().unwrap_or("");
            match t["value"].as_str().filter(|v| !v.is_empty()) {
                Some(value) => format!("{key}={value}:{effect}"),
                None => format!("{key}:{effect}"),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "usable_tests.rs"]
mod tests;

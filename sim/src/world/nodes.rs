//! The cluster's nodes: what exists (control planes and workers with their NICs, CPU and
//! memory) and where a pod fits (cordon, taints, nodeSelector, node affinity, free capacity).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::kinds;
use crate::obj;
use crate::quantity;
use crate::store::{Selectors, Store};

pub use super::spec::ClusterSpec;

/// The internal IP of a node, used as `migrationState.targetNodeAddress`.
pub fn address(store: &Store, node: &str) -> String {
    store
        .get(kinds::NODES, "", node)
        .and_then(|n| {
            n["status"]["addresses"][0]["address"]
                .as_str()
                .map(String::from)
        })
        .unwrap_or_default()
}

/// CPU (millicores) and memory (bytes) a pod requests.
pub fn requests(pod: &Value) -> (u64, u64) {
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    containers.iter().fold((0, 0), |(cpu, mem), c| {
        let r = &c["resources"]["requests"];
        let c_cpu = quantity::of(&r["cpu"]).map_or(0, |v| (v * 1000.0).round() as u64);
        let c_mem = quantity::of(&r["memory"]).map_or(0, |v| v as u64);
        (cpu + c_cpu, mem + c_mem)
    })
}

fn pod_active(pod: &Value) -> bool {
    !matches!(obj::str_at(pod, "/status/phase"), "Succeeded" | "Failed")
}

/// Extended resources (a domain-prefixed name, e.g. `bridge.network.kubevirt.io/br1`) a pod
/// requests, summed over its containers.
pub fn extended_requests(pod: &Value) -> BTreeMap<String, u64> {
    let mut wanted = BTreeMap::new();
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for (name, q) in c["resources"]["requests"].as_object().into_iter().flatten() {
            if name.contains('/') {
                let n = quantity::of(q).map_or(0, |v| v.round() as u64);
                *wanted.entry(name.clone()).or_default() += n;
            }
        }
    }
    wanted
}

/// What the active pods on one node take: their count, CPU (millicores), memory (bytes) and
/// extended resources.
#[derive(Default)]
struct Load {
    pods: usize,
    cpu: u64,
    memory: u64,
    extended: BTreeMap<String, u64>,
}

/// Picks a node for `pod`: the one with the fewest active pods among those that fit, or the
/// scheduler's "0/N nodes are available: …" message.
pub fn schedule(store: &Store, pod: &Value, avoid: Option<&str>) -> Result<String, String> {
    let (nodes, _) = store.list(kinds::NODES, None, &Selectors::default());
    let (pods, _) = store.list(kinds::PODS, None, &Selectors::default());
    let mut load: BTreeMap<&str, Load> = BTreeMap::new();
    for p in pods.iter().filter(|p| pod_active(p)) {
        let node = obj::str_at(p, "/spec/nodeName");
        let (cpu, mem) = requests(p);
        let e = load.entry(node).or_default();
        (e.pods, e.cpu, e.memory) = (e.pods + 1, e.cpu + cpu, e.memory + mem);
        for (name, n) in extended_requests(p) {
            *e.extended.entry(name).or_default() += n;
        }
    }
    let (want_cpu, want_mem) = requests(pod);
    let want_extended = extended_requests(pod);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut fits = Vec::new();
    let idle = Load::default();
    for node in &nodes {
        let name = obj::name(node);
        let l = load.get(name).unwrap_or(&idle);
        let needed = (l.cpu + want_cpu, l.memory + want_mem);
        let reason =
            unfit(node, pod, avoid, needed).or_else(|| short_of(node, &l.extended, &want_extended));
        match reason {
            Some(reason) => *reasons.entry(reason).or_default() += 1,
            None => fits.push((l.pods, name.to_string())),
        }
    }
    fits.sort();
    match fits.into_iter().next() {
        Some((_, name)) => Ok(name),
        None => {
            let why: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
            Err(format!(
                "0/{} nodes are available: {}.",
                nodes.len(),
                why.join(", ")
            ))
        }
    }
}

/// kubernetes (v1.33) pkg/scheduler/framework/plugins/noderesources/fit.go `fitsRequest`: an
/// extended resource the node's allocatable (zero when it has none) cannot cover on top of what
/// its pods already take is "Insufficient <name>".
fn short_of(
    node: &Value,
    taken: &BTreeMap<String, u64>,
    wanted: &BTreeMap<String, u64>,
) -> Option<String> {
    wanted.iter().find_map(|(name, n)| {
        let allocatable =
            quantity::of(&node["status"]["allocatable"][name]).map_or(0, |v| v as u64);
        let used = taken.get(name).copied().unwrap_or(0);
        (used + n > allocatable).then(|| format!("Insufficient {name}"))
    })
}

/// Why `pod` cannot go to `node`, in the scheduler's words; `None` when it fits.
fn unfit(node: &Value, pod: &Value, avoid: Option<&str>, needed: (u64, u64)) -> Option<String> {
    let name = obj::name(node);
    if avoid == Some(name) {
        return Some("node(s) didn't match pod anti-affinity rules".into());
    }
    // No filter looks at the Ready condition: a NotReady node is kept off by the taints the
    // node lifecycle controller puts on it (kubernetes v1.33 pkg/scheduler/framework/plugins:
    // NodeUnschedulable, then TaintToleration, then NodeAffinity).
    // kubernetes pkg/scheduler/framework/plugins/nodeunschedulable `Filter`: a cordoned node
    // takes only pods tolerating node.kubernetes.io/unschedulable:NoSchedule (daemon pods).
    let unschedulable = json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"});
    if node["spec"]["unschedulable"] == true && !tolerates(pod, &unschedulable) {
        return Some("node(s) were unschedulable".into());
    }
    if let Some(taint) = untolerated_taint(node, pod) {
        return Some(format!("node(s) had untolerated taint {{{taint}}}"));
    }
    let labels = obj::labels(node);
    if !obj::map_selects(&pod["spec"]["nodeSelector"], &labels)
        || !affinity_allows(pod, name, &labels)
    {
        return Some("node(s) didn't match Pod's node affinity/selector".into());
    }
    let alloc = &node["status"]["allocatable"];
    let cpu = quantity::of(&alloc["cpu"]).map_or(0, |v| (v * 1000.0) as u64);
    let mem = quantity::of(&alloc["memory"]).map_or(0, |v| v as u64);
    if needed.0 > cpu {
        return Some("Insufficient cpu".into());
    }
    if needed.1 > mem {
        return Some("Insufficient memory".into());
    }
    None
}

fn untolerated_taint(node: &Value, pod: &Value) -> Option<String> {
    node["spec"]["taints"].as_array()?.iter().find_map(|taint| {
        let effect = taint["effect"].as_str().unwrap_or("");
        if effect == "PreferNoSchedule" || tolerates(pod, taint) {
            return None;
        }
        Some(format!(
            "{}: {}",
            obj::str_at(taint, "/key"),
            obj::str_at(taint, "/value")
        ))
    })
}

/// Whether one of the pod's tolerations tolerates `taint` (core/v1 `Toleration.ToleratesTaint`).
fn tolerates(pod: &Value, taint: &Value) -> bool {
    let effect = taint["effect"].as_str().unwrap_or("");
    pod["spec"]["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| {
            let key_ok =
                t["key"].is_null() && t["operator"] == "Exists" || t["key"] == taint["key"];
            let value_ok = t["operator"] == "Exists"
                || t["value"].as_str().unwrap_or("") == taint["value"].as_str().unwrap_or("");
            let effect_ok = t["effect"]
                .as_str()
                .is_none_or(|e| e.is_empty() || e == effect);
            key_ok && value_ok && effect_ok
        })
}

/// `requiredDuringSchedulingIgnoredDuringExecution` node affinity: any term, all of its
/// expressions and fields.
fn affinity_allows(pod: &Value, node: &str, labels: &serde_json::Map<String, Value>) -> bool {
    let terms = &pod["spec"]["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
    let Some(terms) = terms.as_array() else {
        return true;
    };
    terms.iter().any(|term| {
        let exprs = term["matchExpressions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let fields = term["matchFields"].as_array().cloned().unwrap_or_default();
        exprs.iter().all(|e| {
            obj::requirement_holds(
                e,
                labels.get(obj::str_at(e, "/key")).and_then(Value::as_str),
            )
        }) && fields.iter().all(|e| {
            obj::str_at(e, "/key") == "metadata.name" && obj::requirement_holds(e, Some(node))
        })
    })
}

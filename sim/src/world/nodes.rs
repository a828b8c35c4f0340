//! The cluster's nodes: what exists (control planes and workers with their NICs, CPU and
//! memory) and where a pod fits (cordon, taints, nodeSelector, node affinity, free capacity).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::kinds;
use crate::obj;
use crate::quantity;
use crate::store::{Selectors, Store};

/// The shape of the simulated cluster.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub control_planes: usize,
    pub workers: usize,
    /// Allocatable CPUs per worker.
    pub cpus: u32,
    /// Allocatable memory per worker, in GiB.
    pub memory_gib: u64,
    /// NIC names of every worker; the first carries the cluster network.
    pub nics: Vec<String>,
    /// Speed of each NIC, which bounds a migration's bandwidth.
    pub link_gbit_per_s: f64,
    /// The RHEL golden image: packages beyond a RHEL 9 KVM guest image's, a repository.
    pub image: crate::guest::image::GuestImage,
    /// Besides the tidy workers, the nodes a real cluster also has and a harness must not
    /// use: a tainted infra node, a NotReady worker, a worker without the spare NICs
    /// (`untidy.rs`).
    pub untidy: bool,
    /// How long boots, applies and migrations take (modelled seconds).
    pub durations: crate::durations::Durations,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            control_planes: 3,
            workers: 3,
            cpus: 32,
            memory_gib: 128,
            nics: vec!["eth0".into(), "eth1".into(), "eth2".into()],
            link_gbit_per_s: 10.0,
            image: Default::default(),
            untidy: true,
            durations: Default::default(),
        }
    }
}

impl ClusterSpec {
    /// The default shape without the untidy nodes: control planes and identical workers only,
    /// for tests that count nodes.
    pub fn tidy() -> ClusterSpec {
        ClusterSpec {
            untidy: false,
            ..ClusterSpec::default()
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if self.control_planes == 0 || self.workers == 0 {
            return Err(
                "the simulated cluster needs at least one control plane and one worker \
                        node; set both counts to 1 or more"
                    .into(),
            );
        }
        self.image.check()?;
        if self.nics.is_empty() {
            return Err(
                "worker nodes need at least one NIC (the first carries the cluster network)".into(),
            );
        }
        Ok(())
    }

    /// Migration link speed in bytes per second.
    /// Migration bandwidth in bytes per second: the link's, or the durations profile's
    /// per-stream throughput when that is lower.
    pub fn link_bytes_per_s(&self) -> f64 {
        let stream = self.durations.migration_gbit_per_s.unwrap_or(f64::INFINITY);
        self.link_gbit_per_s.min(stream) * 1e9 / 8.0
    }

    /// The Node objects the cluster starts with.
    pub fn node_objects(&self) -> Vec<Value> {
        let control =
            (0..self.control_planes).map(|i| self.node(&format!("control-plane-{i}"), false, i));
        let workers = (0..self.workers).map(|i| self.node(&format!("worker-{i}"), true, 10 + i));
        let mut all: Vec<Value> = control.chain(workers).collect();
        if self.untidy {
            all.extend(super::untidy::nodes(self));
        }
        all
    }

    pub(super) fn node(&self, name: &str, worker: bool, index: usize) -> Value {
        let mut labels = json!({
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
        });
        let (cpus, memory) = if worker {
            labels["node-role.kubernetes.io/worker"] = json!("");
            labels["kubevirt.io/schedulable"] = json!("true");
            (self.cpus, self.memory_gib)
        } else {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
            labels["node-role.kubernetes.io/master"] = json!("");
            (8, 32)
        };
        let taints = if worker {
            json!([])
        } else {
            json!([{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}])
        };
        let resources =
            json!({"cpu": cpus.to_string(), "memory": format!("{memory}Gi"), "pods": "250"});
        json!({
            "metadata": {"name": name, "labels": labels,
                         "annotations": {"vstp.io/nics": self.nics.join(",")}},
            "spec": {"taints": taints},
            "status": {
                "capacity": resources, "allocatable": resources,
                "addresses": [{"type": "InternalIP", "address": format!("192.168.111.{}", 20 + index)},
                              {"type": "Hostname", "address": name}],
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
                    {"type": "Ready", "status": "True", "reason": "KubeletReady",
                     "message": "kubelet is posting ready status"}],
                "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                             "kubeletVersion": "v1.33.5", "containerRuntimeVersion": "cri-o://1.33.5",
                             "osImage": "Red Hat Enterprise Linux CoreOS 9.6 (Plow)",
                             "kernelVersion": "5.14.0-570.49.1.el9_6.x86_64"},
            }
        })
    }
}

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

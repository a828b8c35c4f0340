//! The shape of the simulated cluster and the Node object of a tidy node.

use serde_json::{json, Value};

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
    /// use: a tainted infra node, a NotReady worker, a worker without the spare NICs, a
    /// worker whose spare NICs are bonded or down (`untidy.rs`).
    pub untidy: bool,
    /// How long boots, applies and migrations take (modelled seconds).
    pub durations: crate::durations::Durations,
    /// Emulated guests, or real Linux kernels in qemu (`--guests qemu`).
    pub guests: crate::qemu::Guests,
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
            guests: Default::default(),
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

    /// Migration bandwidth in bytes per second: the link's, or the durations profile's
    /// per-stream throughput when that is lower.
    pub fn link_bytes_per_s(&self) -> f64 {
        let stream = self.durations.migration_gbit_per_s.unwrap_or(f64::INFINITY);
        self.link_gbit_per_s.min(stream) * 1e9 / 8.0
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

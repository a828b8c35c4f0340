//! The KubeVirt CR: seeded with OpenShift Virtualization's (HCO) defaults and read at every
//! decision, so that changing a knob changes what the world does next.

use serde_json::{json, Value};

use crate::kinds;
use crate::quantity;
use crate::store::{Selectors, Store};

pub const KUBEVIRT_NAMESPACE: &str = "openshift-cnv";
pub const KUBEVIRT_NAME: &str = "kubevirt-kubevirt-hyperconverged";

/// The KubeVirt version whose behaviour the controllers model, as the CR reports it.
pub const KUBEVIRT_VERSION: &str = "v1.9.0";

/// The KubeVirt CR as HCO deploys it with KubeVirt v1.9.0 (hyperconverged-cluster-operator
/// release-1.19 controllers/handlers/kubevirt.go: its labels (pkg/util GetLabels) and the
/// gates `getKvFeatureGateList` renders from the default HyperConverged CR; LiveUpdateNADRef is GA in v1.9.0 (pkg/virt-config/featuregate/inactive.go),
/// so HCO no longer lists it and a NAD change of a running VM is always live).
pub fn kubevirt_cr() -> Value {
    json!({
        "apiVersion": "kubevirt.io/v1", "kind": "KubeVirt",
        "metadata": {"name": KUBEVIRT_NAME, "namespace": KUBEVIRT_NAMESPACE,
                     "labels": {"app": "kubevirt-hyperconverged",
                                "app.kubernetes.io/managed-by": "hco-operator",
                                "app.kubernetes.io/part-of": "hyperconverged-cluster",
                                "app.kubernetes.io/component": "compute"}},
        "spec": {
            "workloadUpdateStrategy": {"workloadUpdateMethods": ["LiveMigrate"], "batchEvictionSize": 10,
                                       "batchEvictionInterval": "1m0s"},
            "configuration": {
                "vmRolloutStrategy": "LiveUpdate",
                "evictionStrategy": "LiveMigrate",
                "liveUpdateConfiguration": {"maxHotplugRatio": 4},
                "migrations": {"parallelMigrationsPerCluster": 5, "parallelOutboundMigrationsPerNode": 2,
                               "bandwidthPerMigration": "0Mi", "completionTimeoutPerGiB": 150,
                               "progressTimeout": 150, "allowAutoConverge": false,
                               "allowPostCopy": false},
                // What controllers/hco.rs renders from the default HyperConverged CR.
                "developerConfiguration": {"featureGates": ["CPUManager", "DecentralizedLiveMigration",
                    "DeclarativeHotplugVolumes", "HostDevices", "HypervStrictCheck",
                    "KubevirtSeccompProfile", "Snapshot"]},
                "network": {"binding": {"l2bridge": {"domainAttachmentType": "managedTap", "migration": {}}}},
            }
        },
        "status": {"phase": "Deployed", "observedKubeVirtVersion": KUBEVIRT_VERSION,
                   "targetKubeVirtVersion": KUBEVIRT_VERSION,
                   "conditions": [{"type": "Available", "status": "True", "reason": "AllComponentsReady",
                                   "message": "All components are ready."}]}
    })
}

/// The knobs the world's flows depend on, resolved against upstream defaults for anything
/// the CR leaves out.
#[derive(Debug, Clone)]
pub struct VirtConfig {
    pub live_migrate_updates: bool,
    pub live_update_rollout: bool,
    pub eviction_strategy: String,
    pub max_hotplug_ratio: u32,
    pub max_cpu_sockets: Option<u32>,
    pub max_guest: Option<u64>,
    /// Network binding plugins registered with a `migration` section
    /// (`spec.configuration.network.binding`): they may carry the pod network of a migratable
    /// VMI.
    pub migratable_bindings: Vec<String>,
    /// `spec.configuration.migrations` with every default filled in: the cluster-level
    /// `migrationConfiguration` a VMI gets when no policy matches.
    pub migrations: Value,
}

impl VirtConfig {
    pub fn read(store: &Store) -> VirtConfig {
        let (crs, _) = store.list(kinds::KUBEVIRTS, None, &Selectors::default());
        let empty = json!({});
        let cr = crs.first().map(|c| &**c).unwrap_or(&empty);
        Self::from_cr(cr)
    }

    pub fn from_cr(cr: &Value) -> VirtConfig {
        let conf = &cr["spec"]["configuration"];
        let methods = &cr["spec"]["workloadUpdateStrategy"]["workloadUpdateMethods"];
        let live = &conf["liveUpdateConfiguration"];
        VirtConfig {
            live_migrate_updates: methods
                .as_array()
                .is_some_and(|m| m.iter().any(|x| x == "LiveMigrate")),
            live_update_rollout: conf["vmRolloutStrategy"].as_str().unwrap_or("LiveUpdate")
                == "LiveUpdate",
            eviction_strategy: conf["evictionStrategy"]
                .as_str()
                .unwrap_or("None")
                .to_string(),
            max_hotplug_ratio: live["maxHotplugRatio"].as_u64().unwrap_or(4) as u32,
            max_cpu_sockets: live["maxCpuSockets"].as_u64().map(|v| v as u32),
            max_guest: quantity::of(&live["maxGuest"]).map(|v| v as u64),
            migratable_bindings: conf["network"]["binding"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, plugin)| !plugin["migration"].is_null())
                .map(|(name, _)| name.clone())
                .collect(),
            migrations: resolve_migrations(&conf["migrations"]),
        }
    }
}

fn resolve_migrations(given: &Value) -> Value {
    let mut m = json!({
        "allowAutoConverge": false, "allowPostCopy": false, "allowWorkloadDisruption": false,
        "bandwidthPerMigration": "0Mi", "completionTimeoutPerGiB": 150, "maxDowntimeMs": 900,
        "nodeDrainTaintKey": "kubevirt.io/drain", "parallelMigrationsPerCluster": 5,
        "parallelOutboundMigrationsPerNode": 2, "progressTimeout": 150,
    });
    if let Some(given) = given.as_object() {
        for (k, v) in given {
            m[k] = v.clone();
        }
    }
    // Backward compatibility, as upstream: allowPostCopy implies allowWorkloadDisruption
    // unless the latter is set explicitly.
    if given.get("allowWorkloadDisruption").is_none() {
        m["allowWorkloadDisruption"] = m["allowPostCopy"].clone();
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeded_cr_has_the_hco_defaults() {
        let c = VirtConfig::from_cr(&kubevirt_cr());
        assert!(c.live_migrate_updates && c.live_update_rollout);
        assert_eq!(c.eviction_strategy, "LiveMigrate");
        assert_eq!(c.migrations["parallelMigrationsPerCluster"], 5);
        assert_eq!(c.migrations["allowWorkloadDisruption"], false);
    }

    #[test]
    fn upstream_defaults_fill_an_empty_cr() {
        let c = VirtConfig::from_cr(&json!({}));
        assert!(!c.live_migrate_updates);
        assert_eq!(c.eviction_strategy, "None");
        assert_eq!(c.migrations["nodeDrainTaintKey"], "kubevirt.io/drain");
    }

    #[test]
    fn post_copy_implies_workload_disruption_unless_set() {
        let cr = |m: Value| json!({"spec": {"configuration": {"migrations": m}}});
        let c = VirtConfig::from_cr(&cr(json!({"allowPostCopy": true})));
        assert_eq!(c.migrations["allowWorkloadDisruption"], true);
        let c = VirtConfig::from_cr(&cr(
            json!({"allowPostCopy": true, "allowWorkloadDisruption": false}),
        ));
        assert_eq!(c.migrations["allowWorkloadDisruption"], false);
    }
}

//! The resource kinds the harness touches, as dynamic API handles. Typed structs would pin the
//! harness to one KubeVirt release; the fields it reads are few and named where they are used.

use kube::api::{Api, ApiResource, DynamicObject};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Kind {
    Kind {
        group,
        version,
        kind,
        plural,
        namespaced,
    }
}

pub const NAMESPACE: Kind = kind("", "v1", "Namespace", "namespaces", false);
pub const NODE: Kind = kind("", "v1", "Node", "nodes", false);
pub const POD: Kind = kind("", "v1", "Pod", "pods", true);
pub const EVENT: Kind = kind("", "v1", "Event", "events", true);
pub const CONFIG_MAP: Kind = kind("", "v1", "ConfigMap", "configmaps", true);
/// OpenShift's Route (route.openshift.io/v1), read to find where a service is exposed.
pub const ROUTE: Kind = kind("route.openshift.io", "v1", "Route", "routes", true);
pub const PVC: Kind = kind(
    "",
    "v1",
    "PersistentVolumeClaim",
    "persistentvolumeclaims",
    true,
);
pub const DATA_VOLUME: Kind = kind(
    "cdi.kubevirt.io",
    "v1beta1",
    "DataVolume",
    "datavolumes",
    true,
);
pub const VM_CLUSTER_PREFERENCE: Kind = kind(
    "instancetype.kubevirt.io",
    "v1beta1",
    "VirtualMachineClusterPreference",
    "virtualmachineclusterpreferences",
    false,
);
pub const STORAGE_CLASS: Kind = kind(
    "storage.k8s.io",
    "v1",
    "StorageClass",
    "storageclasses",
    false,
);
pub const STORAGE_PROFILE: Kind = kind(
    "cdi.kubevirt.io",
    "v1beta1",
    "StorageProfile",
    "storageprofiles",
    false,
);
pub const DATA_SOURCE: Kind = kind(
    "cdi.kubevirt.io",
    "v1beta1",
    "DataSource",
    "datasources",
    true,
);
pub const SECRET: Kind = kind("", "v1", "Secret", "secrets", true);
pub const VM: Kind = kind(
    "kubevirt.io",
    "v1",
    "VirtualMachine",
    "virtualmachines",
    true,
);
pub const VMI: Kind = kind(
    "kubevirt.io",
    "v1",
    "VirtualMachineInstance",
    "virtualmachineinstances",
    true,
);
pub const VMIM: Kind = kind(
    "kubevirt.io",
    "v1",
    "VirtualMachineInstanceMigration",
    "virtualmachineinstancemigrations",
    true,
);
pub const KUBEVIRT: Kind = kind("kubevirt.io", "v1", "KubeVirt", "kubevirts", true);
/// OpenShift Virtualization's operator CR, owner of the KubeVirt CR's configuration.
pub const HYPERCONVERGED: Kind = kind(
    "hco.kubevirt.io",
    "v1beta1",
    "HyperConverged",
    "hyperconvergeds",
    true,
);
pub const PDB: Kind = kind(
    "policy",
    "v1",
    "PodDisruptionBudget",
    "poddisruptionbudgets",
    true,
);
pub const MIGRATION_POLICY: Kind = kind(
    "migrations.kubevirt.io",
    "v1alpha1",
    "MigrationPolicy",
    "migrationpolicies",
    false,
);
pub const NNCP: Kind = kind(
    "nmstate.io",
    "v1",
    "NodeNetworkConfigurationPolicy",
    "nodenetworkconfigurationpolicies",
    false,
);
pub const NNCE: Kind = kind(
    "nmstate.io",
    "v1beta1",
    "NodeNetworkConfigurationEnactment",
    "nodenetworkconfigurationenactments",
    false,
);
pub const NNS: Kind = kind(
    "nmstate.io",
    "v1beta1",
    "NodeNetworkState",
    "nodenetworkstates",
    false,
);
pub const NAD: Kind = kind(
    "k8s.cni.cncf.io",
    "v1",
    "NetworkAttachmentDefinition",
    "network-attachment-definitions",
    true,
);
pub const UDN: Kind = kind(
    "k8s.ovn.org",
    "v1",
    "UserDefinedNetwork",
    "userdefinednetworks",
    true,
);
pub const CUDN: Kind = kind(
    "k8s.ovn.org",
    "v1",
    "ClusterUserDefinedNetwork",
    "clusteruserdefinednetworks",
    false,
);
pub const IPAM_CLAIM: Kind = kind(
    "k8s.cni.cncf.io",
    "v1alpha1",
    "IPAMClaim",
    "ipamclaims",
    true,
);

/// Cluster-scoped kinds a run may create, in the order teardown and `vstp cleanup` remove them.
pub const CLUSTER_SCOPED_OWNED: [Kind; 3] = [CUDN, MIGRATION_POLICY, NNCP];

impl Kind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.into(),
            version: self.version.into(),
            api_version: self.api_version(),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }

    /// The API of this kind in `ns` (ignored for cluster-scoped kinds).
    pub fn api(&self, client: &kube::Client, ns: &str) -> Api<DynamicObject> {
        if self.namespaced {
            Api::namespaced_with(client.clone(), ns, &self.resource())
        } else {
            Api::all_with(client.clone(), &self.resource())
        }
    }

    /// Every object of this kind, across namespaces.
    pub fn all(&self, client: &kube::Client) -> Api<DynamicObject> {
        Api::all_with(client.clone(), &self.resource())
    }
}

/// A dynamic object as plain JSON, the shape checks and messages read.
pub fn to_value(o: &kube::api::DynamicObject) -> serde_json::Value {
    serde_json::to_value(o).unwrap_or(serde_json::Value::Null)
}

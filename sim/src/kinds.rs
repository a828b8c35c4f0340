//! The kinds vstp-sim serves, with the scope, names and subresources of upstream, so that
//! discovery, kubectl and kube-rs see the same shapes as on OpenShift Virtualization.

/// One served resource type.
#[derive(Debug)]
pub struct Kind {
    pub group: &'static str,
    /// Served versions, preferred (and stored) first.
    pub versions: &'static [&'static str],
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Has a `/status` subresource: main writes keep the stored status, status writes keep the rest.
    pub status: bool,
    /// Built into Kubernetes (strategic merge patch works); otherwise a custom resource (415).
    pub builtin: bool,
    /// Keeps `metadata.generation`, bumped when anything outside metadata and status changes.
    pub generation: bool,
    /// Field selectors accepted besides metadata.name and metadata.namespace.
    pub fields: &'static [&'static str],
    /// A review (SelfSubjectAccessReview): only created, answered and never stored.
    pub review: bool,
}

impl Kind {
    pub fn preferred_version(&self) -> &'static str {
        self.versions[0]
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// The object as API version `version` shows it (only `apiVersion` differs between
    /// versions), in the shape Go's encoder gives it (see [`crate::gojson`]).
    pub fn present(&self, object: &serde_json::Value, version: &str) -> serde_json::Value {
        let mut out = crate::gojson::shaped(object);
        out["apiVersion"] = serde_json::json!(self.api_version(version));
        out
    }

    /// `virtualmachines.kubevirt.io`, as Kubernetes names a resource in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn serves(&self, version: &str) -> bool {
        self.versions.contains(&version)
    }
}

/// Index of a kind in [`KINDS`].
pub type KindId = usize;

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

const fn kind(
    group: &'static str,
    versions: &'static [&'static str],
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> Kind {
    Kind {
        group,
        versions,
        plural,
        singular,
        kind,
        namespaced,
        short_names: NONE,
        categories: NONE,
        status: true,
        builtin: false,
        generation: true,
        fields: NONE,
        review: false,
    }
}

const fn core(plural: &'static str, singular: &'static str, k: &'static str, ns: bool) -> Kind {
    Kind {
        builtin: true,
        ..kind("", &["v1"], plural, singular, k, ns)
    }
}

/// Plain data kinds of core v1: no spec, no status, no generation.
const fn core_data(plural: &'static str, singular: &'static str, k: &'static str) -> Kind {
    Kind {
        status: false,
        generation: false,
        ..core(plural, singular, k, true)
    }
}

const KV: &[&str] = &["v1"];
const NMSTATE_V1: &[&str] = &["v1", "v1beta1"];
const NMSTATE_BETA: &[&str] = &["v1beta1"];
const V1: &[&str] = &["v1"];
const V1ALPHA1: &[&str] = &["v1alpha1"];

pub static KINDS: &[Kind] = &[
    Kind {
        short_names: &["ns"],
        fields: &["status.phase"],
        ..core("namespaces", "namespace", "Namespace", false)
    },
    Kind {
        short_names: &["no"],
        fields: &["spec.unschedulable"],
        ..core("nodes", "node", "Node", false)
    },
    Kind {
        short_names: &["po"],
        categories: ALL,
        fields: &[
            "spec.nodeName",
            "status.phase",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ..core("pods", "pod", "Pod", true)
    },
    Kind {
        short_names: &["ev"],
        fields: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ..core_data("events", "event", "Event")
    },
    Kind {
        fields: &["type"],
        ..core_data("secrets", "secret", "Secret")
    },
    Kind {
        short_names: &["cm"],
        ..core_data("configmaps", "configmap", "ConfigMap")
    },
    Kind {
        short_names: &["sa"],
        ..core_data("serviceaccounts", "serviceaccount", "ServiceAccount")
    },
    Kind {
        short_names: &["kv", "kvs"],
        categories: ALL,
        ..kind("kubevirt.io", KV, "kubevirts", "kubevirt", "KubeVirt", true)
    },
    Kind {
        short_names: &["vm", "vms"],
        categories: ALL,
        ..kind(
            "kubevirt.io",
            KV,
            "virtualmachines",
            "virtualmachine",
            "VirtualMachine",
            true,
        )
    },
    // No `/status` subresource: kubevirt/kubevirt pkg/virt-operator/resource/generate/components/
    // crds.go NewVirtualMachineInstanceCrd gives the VMI CRD none (the VM, VMIM, KubeVirt and
    // MigrationPolicy CRDs have one), so a write of the main resource stores `.status` and
    // `…/virtualmachineinstances/NAME/status` is not found.
    Kind {
        short_names: &["vmi", "vmis"],
        categories: ALL,
        status: false,
        ..kind(
            "kubevirt.io",
            KV,
            "virtualmachineinstances",
            "virtualmachineinstance",
            "VirtualMachineInstance",
            true,
        )
    },
    Kind {
        short_names: &["vmim", "vmims"],
        categories: ALL,
        ..kind(
            "kubevirt.io",
            KV,
            "virtualmachineinstancemigrations",
            "virtualmachineinstancemigration",
            "VirtualMachineInstanceMigration",
            true,
        )
    },
    Kind {
        categories: ALL,
        ..kind(
            "migrations.kubevirt.io",
            V1ALPHA1,
            "migrationpolicies",
            "migrationpolicy",
            "MigrationPolicy",
            false,
        )
    },
    Kind {
        short_names: &["nncp"],
        ..kind(
            "nmstate.io",
            NMSTATE_V1,
            "nodenetworkconfigurationpolicies",
            "nodenetworkconfigurationpolicy",
            "NodeNetworkConfigurationPolicy",
            false,
        )
    },
    Kind {
        short_names: &["nnce"],
        ..kind(
            "nmstate.io",
            NMSTATE_BETA,
            "nodenetworkconfigurationenactments",
            "nodenetworkconfigurationenactment",
            "NodeNetworkConfigurationEnactment",
            false,
        )
    },
    Kind {
        short_names: &["nns"],
        ..kind(
            "nmstate.io",
            NMSTATE_BETA,
            "nodenetworkstates",
            "nodenetworkstate",
            "NodeNetworkState",
            false,
        )
    },
    Kind {
        short_names: &["net-attach-def"],
        status: false,
        ..kind(
            "k8s.cni.cncf.io",
            V1,
            "network-attachment-definitions",
            "network-attachment-definition",
            "NetworkAttachmentDefinition",
            true,
        )
    },
    kind(
        "k8s.cni.cncf.io",
        V1ALPHA1,
        "ipamclaims",
        "ipamclaim",
        "IPAMClaim",
        true,
    ),
    Kind {
        short_names: &["udn"],
        ..kind(
            "k8s.ovn.org",
            V1,
            "userdefinednetworks",
            "userdefinednetwork",
            "UserDefinedNetwork",
            true,
        )
    },
    Kind {
        short_names: &["cudn"],
        ..kind(
            "k8s.ovn.org",
            V1,
            "clusteruserdefinednetworks",
            "clusteruserdefinednetwork",
            "ClusterUserDefinedNetwork",
            false,
        )
    },
    Kind {
        short_names: &["pvc"],
        ..core(
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            "PersistentVolumeClaim",
            true,
        )
    },
    Kind {
        short_names: &["vmcp", "vmcps"],
        status: false,
        ..kind(
            "instancetype.kubevirt.io",
            &["v1beta1"],
            "virtualmachineclusterpreferences",
            "virtualmachineclusterpreference",
            "VirtualMachineClusterPreference",
            false,
        )
    },
    // The workload kinds a drain meets (kubernetes v1.33 pkg/apis/policy and pkg/apis/apps,
    // served as kube-apiserver registers them in pkg/registry/{policy,apps}).
    Kind {
        short_names: &["pdb"],
        builtin: true,
        ..kind(
            "policy",
            V1,
            "poddisruptionbudgets",
            "poddisruptionbudget",
            "PodDisruptionBudget",
            true,
        )
    },
    Kind {
        short_names: &["ds"],
        categories: ALL,
        builtin: true,
        ..kind("apps", V1, "daemonsets", "daemonset", "DaemonSet", true)
    },
    Kind {
        short_names: &["deploy"],
        categories: ALL,
        builtin: true,
        ..kind("apps", V1, "deployments", "deployment", "Deployment", true)
    },
    Kind {
        short_names: &["rs"],
        categories: ALL,
        builtin: true,
        ..kind("apps", V1, "replicasets", "replicaset", "ReplicaSet", true)
    },
    Kind {
        status: false,
        generation: false,
        review: true,
        builtin: true,
        ..kind(
            "authorization.k8s.io",
            V1,
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            "SelfSubjectAccessReview",
            false,
        )
    },
    Kind {
        short_names: &["sc"],
        status: false,
        generation: false,
        builtin: true,
        ..kind(
            "storage.k8s.io",
            V1,
            "storageclasses",
            "storageclass",
            "StorageClass",
            false,
        )
    },
    kind(
        "cdi.kubevirt.io",
        &["v1beta1"],
        "storageprofiles",
        "storageprofile",
        "StorageProfile",
        false,
    ),
    Kind {
        short_names: &["das"],
        categories: ALL,
        ..kind(
            "cdi.kubevirt.io",
            &["v1beta1"],
            "datasources",
            "datasource",
            "DataSource",
            true,
        )
    },
    Kind {
        short_names: &["dv", "dvs"],
        categories: ALL,
        ..kind(
            "cdi.kubevirt.io",
            &["v1beta1"],
            "datavolumes",
            "datavolume",
            "DataVolume",
            true,
        )
    },
    // The HyperConverged operator's CR (hyperconverged-cluster-operator api/v1beta1
    // hyperconverged_types.go: `+kubebuilder:resource:scope=Namespaced,categories={all},
    // shortName={hco,hcos}`); release-1.19 also serves v1, whose spec differs and is not modelled.
    Kind {
        short_names: &["hco", "hcos"],
        categories: ALL,
        ..kind(
            "hco.kubevirt.io",
            &["v1beta1"],
            "hyperconvergeds",
            "hyperconverged",
            "HyperConverged",
            true,
        )
    },
    // OpenShift's Route (openshift/api route/v1 types.go: namespaced, a status subresource the
    // router writes its admission into). vstp-sim serves only the routes it publishes itself
    // (thanos-querier, see crate::monitoring), admitted by its one router.
    kind("route.openshift.io", V1, "routes", "route", "Route", true),
];

/// The kind served at `group`/`version` under `plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<KindId> {
    KINDS
        .iter()
        .position(|k| k.group == group && k.plural == plural && k.serves(version))
}

/// The kind with this `kind` name in `group`, for objects that name their owners.
pub fn by_kind(group: &str, kind: &str) -> Option<KindId> {
    KINDS
        .iter()
        .position(|k| k.group == group && k.kind == kind)
}

pub fn get(id: KindId) -> &'static Kind {
    &KINDS[id]
}

pub const NAMESPACES: KindId = 0;
pub const NODES: KindId = 1;
pub const PODS: KindId = 2;
pub const EVENTS: KindId = 3;
pub const SECRETS: KindId = 4;
pub const CONFIGMAPS: KindId = 5;
pub const SERVICEACCOUNTS: KindId = 6;
pub const KUBEVIRTS: KindId = 7;
pub const VMS: KindId = 8;
pub const VMIS: KindId = 9;
pub const VMIMS: KindId = 10;
pub const MIGRATION_POLICIES: KindId = 11;
pub const NNCPS: KindId = 12;
pub const NNCES: KindId = 13;
pub const NNSS: KindId = 14;
pub const NADS: KindId = 15;
pub const IPAMCLAIMS: KindId = 16;
pub const UDNS: KindId = 17;
pub const CUDNS: KindId = 18;
pub const PVCS: KindId = 19;
pub const VMCLUSTERPREFERENCES: KindId = 20;
pub const PDBS: KindId = 21;
pub const DAEMONSETS: KindId = 22;
pub const DEPLOYMENTS: KindId = 23;
pub const REPLICASETS: KindId = 24;
pub const SSARS: KindId = 25;
pub const STORAGECLASSES: KindId = 26;
pub const STORAGEPROFILES: KindId = 27;
pub const DATASOURCES: KindId = 28;
pub const DATAVOLUMES: KindId = 29;
pub const HYPERCONVERGEDS: KindId = 30;
pub const ROUTES: KindId = 31;

/// Every API group and its versions, preferred first, in the order discovery lists them.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for k in KINDS.iter().filter(|k| !k.group.is_empty()) {
        let entry = match out.iter_mut().find(|(g, _)| *g == k.group) {
            Some(entry) => entry,
            None => {
                out.push((k.group, Vec::new()));
                out.last_mut().expect("just pushed")
            }
        };
        for v in k.versions {
            if !entry.1.contains(v) {
                entry.1.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_ids_point_at_their_kinds() {
        assert_eq!(get(NAMESPACES).kind, "Namespace");
        assert_eq!(get(NODES).kind, "Node");
        assert_eq!(get(PODS).kind, "Pod");
        assert_eq!(get(SECRETS).kind, "Secret");
        assert_eq!(get(CONFIGMAPS).kind, "ConfigMap");
        assert_eq!(get(SERVICEACCOUNTS).kind, "ServiceAccount");
        assert_eq!(get(KUBEVIRTS).kind, "KubeVirt");
        assert_eq!(get(VMS).kind, "VirtualMachine");
        assert_eq!(get(VMIS).kind, "VirtualMachineInstance");
        assert_eq!(get(VMIMS).kind, "VirtualMachineInstanceMigration");
        assert_eq!(get(MIGRATION_POLICIES).kind, "MigrationPolicy");
        assert_eq!(get(NADS).kind, "NetworkAttachmentDefinition");
        assert_eq!(get(PVCS).kind, "PersistentVolumeClaim");
        assert_eq!(
            get(VMCLUSTERPREFERENCES).kind,
            "VirtualMachineClusterPreference"
        );
        assert_eq!(get(PDBS).kind, "PodDisruptionBudget");
        assert_eq!(get(DAEMONSETS).kind, "DaemonSet");
        assert_eq!(get(DEPLOYMENTS).kind, "Deployment");
        assert_eq!(get(REPLICASETS).kind, "ReplicaSet");
        assert_eq!(get(DATAVOLUMES).kind, "DataVolume");
        assert_eq!(get(HYPERCONVERGEDS).kind, "HyperConverged");
        assert_eq!(get(ROUTES).kind, "Route");
    }

    #[test]
    fn nncp_is_served_in_both_versions_and_enactments_only_in_beta() {
        assert!(find("nmstate.io", "v1", "nodenetworkconfigurationpolicies").is_some());
        assert!(find("nmstate.io", "v1beta1", "nodenetworkconfigurationpolicies").is_some());
        assert!(find("nmstate.io", "v1", "nodenetworkconfigurationenactments").is_none());
        let nmstate = groups()
            .into_iter()
            .find(|(g, _)| *g == "nmstate.io")
            .unwrap();
        assert_eq!(nmstate.1, vec!["v1", "v1beta1"]);
    }
}

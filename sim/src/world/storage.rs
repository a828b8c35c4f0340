//! The cluster's storage as OpenShift Data Foundation (ceph RBD) sets it up for OpenShift
//! Virtualization: StorageClasses and the StorageProfiles CDI derives from them.

use serde_json::{json, Value};

use crate::kinds;
use crate::store::{Scope, Store};

/// The annotation that makes a class the one claims without `storageClassName` get
/// (kubernetes pkg/volume/util `IsDefaultAnnotation`, read by the DefaultStorageClass
/// admission plugin).
pub const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// The annotation CDI prefers for VM disks (containerized-data-importer
/// pkg/controller/common `AnnDefaultVirtStorageClass`).
pub const DEFAULT_VIRT_CLASS: &str = "storageclass.kubevirt.io/is-default-virt-class";
const RBD: &str = "openshift-storage.rbd.csi.ceph.com";
const CEPHFS: &str = "openshift-storage.cephfs.csi.ceph.com";

/// ODF's classes: RBD the cluster default, its virtualization twin CDI's default for VM disks,
/// and CephFS.
fn classes() -> Vec<Value> {
    let class = |name: &str, provisioner: &str, annotations: Value| {
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
               "metadata": {"name": name, "annotations": annotations},
               "provisioner": provisioner, "reclaimPolicy": "Delete",
               "allowVolumeExpansion": true, "volumeBindingMode": "Immediate"})
    };
    vec![
        class(
            "ocs-storagecluster-ceph-rbd",
            RBD,
            json!({DEFAULT_CLASS: "true"}),
        ),
        class(
            "ocs-storagecluster-ceph-rbd-virtualization",
            RBD,
            json!({DEFAULT_VIRT_CLASS: "true"}),
        ),
        class("ocs-storagecluster-cephfs", CEPHFS, json!({})),
    ]
}

/// The access and volume modes CDI knows a provisioner to support
/// (containerized-data-importer pkg/storagecapabilities/storagecapabilities.go
/// `CapabilitiesByProvisionerKey`: `createRbdCapabilities` for RBD, RWX Filesystem for CephFS).
fn claim_property_sets(provisioner: &str) -> Value {
    let set = |mode: &str, volume: &str| json!({"accessModes": [mode], "volumeMode": volume});
    match provisioner {
        RBD => json!([
            set("ReadWriteMany", "Block"),
            set("ReadWriteOnce", "Block"),
            set("ReadWriteOnce", "Filesystem")
        ]),
        CEPHFS => json!([set("ReadWriteMany", "Filesystem")]),
        _ => json!([]),
    }
}

/// The StorageProfile CDI keeps per class, named after it (containerized-data-importer
/// pkg/controller/storageprofile-controller.go `reconcileStorageProfile`).
fn profile(class: &Value) -> Value {
    let name = class["metadata"]["name"].clone();
    let provisioner = class["provisioner"].as_str().unwrap_or_default();
    json!({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "StorageProfile",
           "metadata": {"name": name}, "spec": {},
           "status": {"storageClass": name, "provisioner": provisioner,
                      "cloneStrategy": "csi-clone",
                      "claimPropertySets": claim_property_sets(provisioner)}})
}

/// Creates the classes and their profiles.
pub fn seed(store: &Store) {
    for class in classes() {
        let _ = store.create(kinds::STORAGEPROFILES, profile(&class), Scope::All, false);
        let _ = store.create(kinds::STORAGECLASSES, class, Scope::All, false);
    }
}

//! Storage as ODF sets it up: the default class carries Kubernetes' default-class annotation,
//! and CDI's StorageProfile of a ceph RBD class offers ReadWriteMany block
//! (containerized-data-importer pkg/storagecapabilities/storagecapabilities.go
//! `createRbdCapabilities`; pkg/controller/storageprofile-controller.go names each profile
//! after its class).

use super::*;

#[tokio::test]
async fn the_default_rbd_class_has_a_profile_with_rwx_block() {
    let (_sim, client) = cluster().await;
    let classes = resource("storage.k8s.io", "v1", "StorageClass", "storageclasses");
    let classes = Api::<DynamicObject>::all_with(client.clone(), &classes)
        .list(&Default::default())
        .await
        .unwrap();
    let default: Vec<Value> = classes
        .items
        .iter()
        .map(value)
        .filter(|c| {
            c["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        })
        .collect();
    assert_eq!(default.len(), 1, "{default:?}");
    assert_eq!(
        default[0]["provisioner"],
        "openshift-storage.rbd.csi.ceph.com"
    );
    let name = default[0]["metadata"]["name"].as_str().unwrap();
    let profiles = resource(
        "cdi.kubevirt.io",
        "v1beta1",
        "StorageProfile",
        "storageprofiles",
    );
    let profile = Api::<DynamicObject>::all_with(client.clone(), &profiles)
        .get(name)
        .await
        .unwrap();
    let sets = &value(&profile)["status"]["claimPropertySets"];
    assert!(
        sets.as_array()
            .unwrap()
            .contains(&json!({"accessModes": ["ReadWriteMany"], "volumeMode": "Block"})),
        "{sets}"
    );
}

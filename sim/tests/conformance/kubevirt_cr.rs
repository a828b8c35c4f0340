//! The KubeVirt CR: the version it reports and the feature gates that version implies for the
//! behaviours the simulator models.

use super::*;
use crate::common::net::{start, vlan10_and_vlan20, vm_on};

/// kubevirt/kubevirt v1.9.0: pkg/virt-config/featuregate/inactive.go registers
/// `LiveUpdateNADRef` as GA, so pkg/virt-config/feature-gates.go `isFeatureGateEnabled` holds
/// without it being listed and pkg/network/vmliveupdate/restart.go `IsRestartRequired` ignores
/// a NAD name change; hyperconverged-cluster-operator release-1.19 no longer lists the gate.
#[tokio::test]
async fn kubevirt_reports_v1_9_0_where_a_nad_change_is_live_without_the_gate() {
    let (_sim, client) = cluster().await;
    let ar = resource("kubevirt.io", "v1", "KubeVirt", "kubevirts");
    let crs = Api::<DynamicObject>::all_with(client.clone(), &ar)
        .list(&Default::default())
        .await
        .unwrap();
    let cr = value(&crs.items[0]);
    assert_eq!(cr["status"]["observedKubeVirtVersion"], "v1.9.0");
    let gates = &cr["spec"]["configuration"]["developerConfiguration"]["featureGates"];
    assert!(
        !gates
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "LiveUpdateNADRef"),
        "{gates}"
    );
    assert_eq!(
        cr["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "hco-operator"
    );

    vlan10_and_vlan20(&client).await;
    start(
        &client,
        vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0"),
    )
    .await;
    json_patch_vm(&client, "a", json!([{"op": "replace", "path": "/spec/template/spec/networks/1/multus/networkName", "value": "vlan20"}])).await;
    let vmi = until(&vmis(&client), "a", "on vlan20", |v| {
        v["spec"]["networks"][1]["multus"]["networkName"] == "vlan20"
    })
    .await;
    assert_eq!(cond(&vmi, "RestartRequired"), None);
    let vm = until(&vm_api(&client), "a", "observed", |v| {
        v["status"]["observedGeneration"] == v["metadata"]["generation"]
    })
    .await;
    assert_eq!(cond(&vm, "RestartRequired"), None, "{}", vm["status"]);
}

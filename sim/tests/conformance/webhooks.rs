//! KubeVirt's validating webhooks as a client sees them through the API server: the network
//! admitter's interface states and the launcher-pod eviction interceptor.

use kube::api::PostParams;

use super::*;
use crate::common::net::{nad, trunk_bridge, vm_on};

const VM_WEBHOOK: &str =
    "admission webhook \"virtualmachine-validator.kubevirt.io\" denied the request: ";

/// kubevirt/kubevirt v1.9.0: pkg/network/admitter/admit.go `validateInterfaceStateValue` (via
/// admitters/vms-admitter.go `ValidateVirtualMachineSpec`) refuses an unknown state, and
/// `absent` on anything but a bridge binding or on the default network; the causes reach the
/// client through pkg/util/webhooks/webhooks.go `ToAdmissionResponse` (422 Invalid).
#[tokio::test]
async fn interface_states_are_validated_at_admission() {
    let (_sim, client) = cluster().await;
    let mut vm = value(&vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0"));
    vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1]["state"] =
        json!("sleeping");
    let vm: DynamicObject = serde_json::from_value(vm).unwrap();
    let refused = api_error(
        vm_api(&client)
            .create(&PostParams::default(), &vm)
            .await
            .unwrap_err(),
    );
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        refused.message,
        format!("{VM_WEBHOOK}logical net1 interface state value is unsupported: sleeping")
    );
    let cause = &refused.details.unwrap().causes[0];
    assert_eq!(
        cause.field,
        "spec.template.spec.domain.devices.interfaces[1].state"
    );

    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    crate::common::net::start(
        &client,
        vm_on("b", "vlan10", &["10.200.0.2/24"], "worker-0"),
    )
    .await;
    let absent = json!([{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/0/state", "value": "absent"}]);
    let patch: json_patch::Patch = serde_json::from_value(absent).unwrap();
    let refused = vm_api(&client)
        .patch("b", &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap_err();
    assert_eq!(
        api_error(refused).message,
        format!("{VM_WEBHOOK}\"default\" interface's state \"absent\" is supported only for bridge binding, \"default\" interface's state \"absent\" is not supported on default networks")
    );
    json_patch_vm(&client, "b", json!([{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/state", "value": "down"}])).await;
}

/// kubevirt/kubevirt v1.9.0: admitters/pod-eviction-admitter.go `admitLauncherPod` denies
/// with code 429 and no reason; virt-operator registers it as
/// `virt-launcher-eviction-interceptor.kubevirt.io` (components/webhooks.go), so the API server
/// answers "admission webhook \"…\" denied the request: …".
#[tokio::test]
async fn a_refused_eviction_names_the_eviction_interceptor() {
    let (sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    let launchers = kube::api::ListParams::default().labels("kubevirt.io=virt-launcher");
    let pod = pods(&client).list(&launchers).await.unwrap().items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let core: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(client_without_retry(&sim).await, "default");
    let refused = api_error(core.evict(&pod, &Default::default()).await.unwrap_err());
    assert_eq!((refused.code, refused.reason.as_str()), (429, ""));
    assert_eq!(
        refused.message,
        "admission webhook \"virt-launcher-eviction-interceptor.kubevirt.io\" denied the request: Eviction triggered evacuation of VMI \"default/vm1\""
    );
}

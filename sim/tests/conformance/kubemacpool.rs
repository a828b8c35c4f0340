//! KubeMacPool's VirtualMachine webhook (k8snetworkplumbingwg/kubemacpool v0.51) as a client
//! sees it: MACs from the range CNAO configured, a VM repeating a MAC refused, another VM's MAC
//! admitted.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;

use super::*;
use crate::common::net::vm_on;

const KMP_WEBHOOK: &str =
    "admission webhook \"mutatevirtualmachines.kubemacpool.io\" denied the request: ";

fn mac_number(mac: &str) -> u64 {
    u64::from_str_radix(&mac.replace(':', ""), 16).expect("a MAC")
}

async fn create_vm(client: &kube::Client, vm: Value) -> Result<Value, kube::Error> {
    let vm: DynamicObject = serde_json::from_value(vm).unwrap();
    let created = vm_api(client).create(&PostParams::default(), &vm).await?;
    Ok(value(&created))
}

fn macs(vm: &Value) -> Vec<Option<String>> {
    vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["macAddress"].as_str().map(str::to_string))
        .collect()
}

/// pool-manager/virtualmachine_pool.go `AllocateVirtualMachineMac` gives each masquerade or
/// Multus interface without a MAC one from the range of ConfigMap
/// `kubemacpool-mac-range-config` (`getFreeMac`), which CNAO renders in its operand namespace
/// with a random 02:xx:xx prefix (pkg/network/kubemacpool.go `generateRandomMacPrefix`).
#[tokio::test]
async fn interfaces_get_distinct_macs_from_the_configured_range() {
    let (_sim, client) = cluster().await;
    let configs: Api<ConfigMap> = Api::namespaced(client.clone(), "openshift-cnv");
    let range = configs.get("kubemacpool-mac-range-config").await.unwrap();
    let data = range.data.unwrap();
    let (start, end) = (
        mac_number(&data["RANGE_START"]),
        mac_number(&data["RANGE_END"]),
    );
    assert_eq!((start >> 40, end - start), (0x02, 0xff_ffff), "{data:?}");
    let mut given = Vec::new();
    for name in ["a", "b"] {
        let created = create_vm(&client, value(&vm_on(name, "vlan10", &[], "worker-0")))
            .await
            .unwrap();
        given.extend(macs(&created).into_iter().map(|m| m.expect("a MAC given")));
    }
    for mac in &given {
        assert!(
            (start..=end).contains(&mac_number(mac)),
            "{mac} outside {data:?}"
        );
    }
    given.sort();
    given.dedup();
    assert_eq!(given.len(), 4, "MACs repeated: {given:?}");
}

/// `checkIntraVMDuplicateMACs` refuses a VM whose interfaces share a MAC; the webhook answers
/// `admission.Errored(500, "Failed to create virtual machine allocation error: …")`
/// (webhook/virtualmachine/virtualmachine.go `Handle`) and the API server passes the code on
/// (k8s.io/apiserver webhook/errors `ToStatusErr`). A MAC another VM holds is no longer refused
/// since v0.51 (#582): its VMI collision controller reports such collisions at run time.
#[tokio::test]
async fn a_vm_repeating_a_mac_is_refused_and_another_vms_mac_is_not() {
    let (_sim, client) = cluster().await;
    let mut twice = value(&vm_on("twice", "vlan10", &[], "worker-0"));
    let ifaces = &mut twice["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"];
    ifaces[0]["macAddress"] = json!("02:AA:00:00:00:01");
    ifaces[1]["macAddress"] = json!("02:aa:00:00:00:01");
    let refused = api_error(create_vm(&client, twice).await.unwrap_err());
    assert_eq!((refused.code, refused.reason.as_str()), (500, ""));
    assert_eq!(
        refused.message,
        format!("{KMP_WEBHOOK}Failed to create virtual machine allocation error: Failed to allocate mac to the vm object: duplicate MAC address 02:aa:00:00:00:01 found on interfaces: default and net1")
    );

    let mut first = value(&vm_on("first", "vlan10", &[], "worker-0"));
    first["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1]["macAddress"] =
        json!("02:aa:00:00:00:02");
    create_vm(&client, first.clone()).await.unwrap();
    first["metadata"]["name"] = json!("second");
    let second = create_vm(&client, first).await.unwrap();
    assert_eq!(macs(&second)[1].as_deref(), Some("02:aa:00:00:00:02"));
}

/// `UpdateMacAddressesForVirtualMachine`: an interface that asks for no MAC on update keeps the
/// one it was given, and a refused update names the update.
#[tokio::test]
async fn an_update_keeps_given_macs_and_refuses_a_repeated_one() {
    let (_sim, client) = cluster().await;
    let created = create_vm(&client, value(&vm_on("a", "vlan10", &[], "worker-0")))
        .await
        .unwrap();
    let given = macs(&created);
    let drop_mac = json!([{"op": "remove", "path": "/spec/template/spec/domain/devices/interfaces/1/macAddress"},
        {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/state", "value": "down"}]);
    let patch: json_patch::Patch = serde_json::from_value(drop_mac).unwrap();
    let updated = vm_api(&client)
        .patch("a", &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap();
    assert_eq!(macs(&value(&updated)), given);

    let repeat = json!([{"op": "replace", "path": "/spec/template/spec/domain/devices/interfaces/1/macAddress", "value": given[0]}]);
    let patch: json_patch::Patch = serde_json::from_value(repeat).unwrap();
    let refused = vm_api(&client)
        .patch("a", &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap_err();
    let refused = api_error(refused);
    assert_eq!(refused.code, 500);
    assert_eq!(
        refused.message,
        format!(
            "{KMP_WEBHOOK}Failed to update virtual machine allocation error: duplicate MAC address {} found on interfaces: default and net1",
            given[0].as_deref().unwrap()
        )
    );
}

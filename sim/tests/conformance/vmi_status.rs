//! What KubeVirt's controllers write into VM and VMI status: condition texts, and the
//! `omitempty` fields a Go client never serialises as false.

use kube::api::PostParams;

use super::*;

/// kubevirt/kubevirt v1.9.0: pkg/virt-handler/vm.go `calculateLiveMigrationCondition` takes
/// the message of pkg/network/vmispec/interface.go `VerifyVMIMigratable` for a pod network
/// bound with bridge and without kubevirt.io/allow-pod-bridge-network-live-migration.
#[tokio::test]
async fn a_bridged_pod_network_is_not_live_migratable_with_upstreams_message() {
    let (_sim, client) = cluster().await;
    let bridged =
        json!({"domain": {"devices": {"interfaces": [{"name": "default", "bridge": {}}]}}});
    let vmi = boot(&client, "a", bridged).await;
    let c = condition(&vmi, "LiveMigratable").unwrap();
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str(), c["message"].as_str()),
        (
            Some("False"),
            Some("InterfaceNotLiveMigratable"),
            Some("cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network")
        ),
        "{c}"
    );
}

/// kubevirt/kubevirt v1.9.0 staging/src/kubevirt.io/api/core/v1/types.go: VirtualMachineStatus
/// `created,omitempty` and `ready,omitempty`, VirtualMachineInstanceMigrationState
/// `failed,omitempty` and `targetNodeDomainDetected,omitempty`: encoding/json drops them when
/// false, so a stopped VM shows neither and a completed migration no `failed`.
#[tokio::test]
async fn false_omitempty_fields_are_not_written() {
    let (_sim, client) = cluster().await;
    let mut stopped = value(&rhel_vm("stopped", json!({})));
    stopped["spec"]["runStrategy"] = json!("Halted");
    let stopped: DynamicObject = serde_json::from_value(stopped).unwrap();
    vm_api(&client)
        .create(&PostParams::default(), &stopped)
        .await
        .unwrap();
    let vm = until(&vm_api(&client), "stopped", "Stopped", |v| {
        v["status"]["printableStatus"] == "Stopped"
    })
    .await;
    let status = vm["status"].as_object().unwrap();
    assert!(
        !status.contains_key("created") && !status.contains_key("ready"),
        "{status:?}"
    );

    boot(&client, "a", json!({})).await;
    let (_, vmim) = migrate(&client, "a").await;
    assert_eq!(vmim["status"]["phase"], "Succeeded");
    let vmi = until(&vmis(&client), "a", "migrated", |v| {
        v["status"]["migrationState"]["completed"] == true
    })
    .await;
    let state = vmi["status"]["migrationState"].as_object().unwrap();
    assert_eq!(state["completed"], true);
    assert!(!state.contains_key("failed"), "{state:?}");
    let vm = value(&vm_api(&client).get("a").await.unwrap());
    assert_eq!(
        (&vm["status"]["created"], &vm["status"]["ready"]),
        (&json!(true), &json!(true))
    );
}

//! Network changes of a running VM: the VM controller's network synchronizer, RestartRequired
//! for networks, MigrationRequired, and the workload updater that applies it by migrating.

use super::*;
use crate::common::net::{nad, reaches, start, trunk_bridge, vm_on};

/// kubevirt/kubevirt v1.9.0: pkg/network/controllers/vm.go `syncNetworks` copies the new NAD
/// into the VMI spec whatever the VM's migratability; pkg/network/vmliveupdate/restart.go
/// `IsRestartRequired` ignores a NAD name change; pkg/network/migration/evaluator.go `Evaluate`
/// marks MigrationRequired at once; pkg/virt-controller/watch/workload-updater/workload-updater.go
/// migrates only `IsMigratable()` VMIs, so the guest stays on the old network.
#[tokio::test]
async fn a_nad_swap_on_a_non_migratable_vm_reaches_the_vmi_spec_and_waits_for_a_migration() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    nad(&client, "vlan20", "br1", 20).await;
    start(
        &client,
        vm_on("peer", "vlan10", &["10.200.0.2/24"], "worker-1"),
    )
    .await;
    let vm = non_migratable_vm_on(&client, "a", "vlan10", &["10.200.0.1/24"]).await;
    let booted = start(&client, vm).await;
    assert_eq!(cond(&booted, "LiveMigratable").as_deref(), Some("False"));

    json_patch_vm(&client, "a", json!([{"op": "replace", "path": "/spec/template/spec/networks/1/multus/networkName", "value": "vlan20"}])).await;
    let vmi = until(&vmis(&client), "a", "MigrationRequired", |v| {
        condition(v, "MigrationRequired").is_some()
    })
    .await;
    let required = condition(&vmi, "MigrationRequired").unwrap();
    assert_eq!(
        (&required["status"], &required["reason"]),
        (&json!("True"), &json!("AutoMigrationDueToLiveUpdate")),
        "{required}"
    );
    assert!(required["message"].as_str().unwrap_or("").is_empty());
    assert_eq!(
        vmi["spec"]["networks"][1]["multus"]["networkName"],
        "vlan20"
    );
    let vm = value(&vm_api(&client).get("a").await.unwrap());
    assert_eq!(cond(&vm, "RestartRequired"), None, "{}", vm["status"]);

    holds(&vmis(&client), "a", 60.0, "not migrating", |v| {
        v["status"]["migrationState"].is_null()
            && cond(v, "MigrationRequired").as_deref() == Some("True")
    })
    .await;
    assert!(migrations(&client).await.is_empty(), "no migration");
    assert!(
        reaches(&client, "a", "10.200.0.2").await,
        "the guest is still on the old network"
    );
}

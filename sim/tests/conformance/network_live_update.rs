//! Network changes of a running VM: the VM controller's network synchronizer, RestartRequired
//! for networks, MigrationRequired, and the workload updater that applies it by migrating.

use super::*;
use crate::common::net::{
    nad, reaches, single_nic_vm, start, trunk_bridge, vlan10_and_vlan20, vm_on,
};

/// kubevirt/kubevirt v1.9.0: pkg/network/controllers/vm.go `syncNetworks` copies the new NAD
/// into the VMI spec whatever the VM's migratability; pkg/network/vmliveupdate/restart.go
/// `IsRestartRequired` ignores a NAD name change; pkg/network/migration/evaluator.go `Evaluate`
/// marks MigrationRequired at once; pkg/virt-controller/watch/workload-updater/workload-updater.go
/// migrates only `IsMigratable()` VMIs, so the guest stays on the old network.
#[tokio::test]
async fn a_nad_swap_on_a_non_migratable_vm_reaches_the_vmi_spec_and_waits_for_a_migration() {
    let (_sim, client) = cluster().await;
    vlan10_and_vlan20(&client).await;
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

/// The interface hot-plugged into `vm`'s template (a bridge NIC on `nad`).
async fn hotplug_nic(client: &kube::Client, vm: &str, nad: &str) {
    json_patch_vm(client, vm, json!([
        {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", "value": {"name": "iface1", "bridge": {}}},
        {"op": "add", "path": "/spec/template/spec/networks/-", "value": {"name": "iface1", "multus": {"networkName": nad}}}])).await;
}

fn status_entry<'a>(vmi: &'a Value, name: &str) -> Option<&'a Value> {
    vmi["status"]["interfaces"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)
}

fn migration_required(vmi: &Value) -> Option<(&str, &str)> {
    let c = condition(vmi, "MigrationRequired")?;
    Some((c["status"].as_str()?, c["reason"].as_str()?))
}

/// kubevirt/kubevirt v1.9.0: pkg/network/controllers/vm.go `applyDynamicIfaceRequestOnVMI`
/// appends the bridge NIC to the VMI spec whatever the VM's migratability;
/// pkg/network/vmliveupdate/restart.go `IsRestartRequired` ignores an added NIC;
/// pkg/network/migration/evaluator.go `Evaluate` with lifecycle.go
/// `syncMigrationRequiredCondition` sets MigrationRequired False/AutoMigrationPending, then
/// True/AutoMigrationDueToLiveUpdate once DynamicNetworkControllerGracePeriod (15 s) has passed;
/// the workload updater never migrates the non-migratable VMI, so the NIC gets no status entry
/// and never reaches the guest.
#[tokio::test]
async fn a_nic_hotplugged_into_a_non_migratable_vm_waits_for_a_migration_that_never_comes() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    let mut vm = value(&single_nic_vm("a", "10.200.0.1/24"));
    add_rwo_disk(&client, &mut vm, "a-data").await;
    start(&client, serde_json::from_value(vm).unwrap()).await;

    hotplug_nic(&client, "a", "vlan10").await;
    let pending = until(&vmis(&client), "a", "MigrationRequired", |v| {
        migration_required(v).is_some()
    })
    .await;
    let since = std::time::Instant::now();
    assert_eq!(
        migration_required(&pending),
        Some(("False", "AutoMigrationPending"))
    );
    assert_eq!(
        pending["spec"]["domain"]["devices"]["interfaces"][1]["name"],
        "iface1"
    );
    assert_eq!(
        pending["spec"]["networks"][1]["multus"]["networkName"],
        "vlan10"
    );
    assert!(status_entry(&pending, "iface1").is_none(), "{pending}");
    let vm = value(&vm_api(&client).get("a").await.unwrap());
    assert_eq!(cond(&vm, "RestartRequired"), None, "{}", vm["status"]);

    let required = until(&vmis(&client), "a", "MigrationRequired True", |v| {
        migration_required(v) != Some(("False", "AutoMigrationPending"))
    })
    .await;
    let waited = since.elapsed().as_secs_f64() * vstp_sim::DEFAULT_TIME_SCALE;
    assert_eq!(
        migration_required(&required),
        Some(("True", "AutoMigrationDueToLiveUpdate"))
    );
    assert!(
        waited >= 14.0,
        "True after {waited:.1} modelled s, not the 15 s grace period"
    );
    let message = &condition(&required, "MigrationRequired").unwrap()["message"];
    assert!(message.as_str().unwrap_or("").is_empty(), "{message}");

    holds(
        &vmis(&client),
        "a",
        60.0,
        "not migrating, iface1 not in status",
        |v| v["status"]["migrationState"].is_null() && status_entry(v, "iface1").is_none(),
    )
    .await;
    assert!(migrations(&client).await.is_empty(), "no migration");
    let vm = value(&vm_api(&client).get("a").await.unwrap());
    let mac = vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1]["macAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let (links, _) = ssh(&client, "a", KEY_FILE, "ip -j link").await.unwrap();
    assert!(!links.contains(&mac), "the guest has no {mac}: {links}");
}

/// kubevirt/kubevirt v1.9.0: once the VMI runs in the target pod, pkg/network/controllers/vmi.go
/// `calculateSecondaryIfaceStatuses` gives the hot-plugged NIC a `multus-status` entry without
/// a MAC; virt-handler's pkg/network/setup/netstat.go `UpdateStatus` adds the domain's MAC
/// (`domain, multus-status`) only when the target has plugged it, after
/// pkg/virt-handler/migration-target.go `finalizeMigration` set `completed`, then the guest
/// agent's view (`domain, guest-agent, multus-status`).
#[tokio::test]
async fn a_nic_hotplugged_into_a_migratable_vm_shows_its_mac_only_after_the_migration_completed() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    start(&client, single_nic_vm("a", "10.200.0.1/24")).await;

    hotplug_nic(&client, "a", "vlan10").await;
    let history = history_until(&vmis(&client), "a", "iface1 reported by the agent", |v| {
        status_entry(v, "iface1")
            .is_some_and(|e| e["infoSource"] == "domain, guest-agent, multus-status")
    })
    .await;
    let all = migrations(&client).await;
    assert_eq!(all.len(), 1, "one migration: {all:?}");
    let migration = &all[0];
    assert!(obj_name(migration).starts_with("kubevirt-workload-update-"));
    let mut sources: Vec<&str> = Vec::new();
    for v in &history {
        let Some(entry) = status_entry(v, "iface1") else {
            continue;
        };
        let source = entry["infoSource"].as_str().unwrap();
        if sources.last() != Some(&source) {
            sources.push(source);
        }
        let state = &v["status"]["migrationState"];
        if !entry["mac"].is_null() {
            assert_eq!(
                (&state["migrationUid"], &state["completed"]),
                (&migration["metadata"]["uid"], &json!(true)),
                "the MAC shows before the migration completed: {entry}"
            );
        } else {
            assert_eq!(source, "multus-status", "{entry}");
            assert!(entry["podInterfaceName"]
                .as_str()
                .unwrap()
                .starts_with("pod"));
        }
    }
    assert_eq!(
        sources,
        [
            "multus-status",
            "domain, multus-status",
            "domain, guest-agent, multus-status"
        ]
    );
    let last = status_entry(history.last().unwrap(), "iface1").unwrap();
    let vm = value(&vm_api(&client).get("a").await.unwrap());
    assert_eq!(
        last["mac"],
        vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1]["macAddress"]
    );
    assert_eq!(
        (last["interfaceName"].as_str(), last["ipAddress"].as_str()),
        (Some("eth1"), Some("10.200.0.1"))
    );
}

fn obj_name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

/// kubevirt/kubevirt v1.9.0: pkg/virt-controller/watch/vm/vm.go `sync` runs the network
/// synchronizer (pkg/network/controllers/vm.go `Sync`) whatever `syncRestartRequired` found,
/// while the CPU, memory and placement handlers run only without RestartRequired: a NAD swap
/// reaches the VMI spec, a socket added at the same time does not.
#[tokio::test]
async fn a_nad_swap_reaches_the_vmi_while_restart_required_holds_back_a_cpu_change() {
    let (_sim, client) = cluster().await;
    vlan10_and_vlan20(&client).await;
    start(
        &client,
        vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0"),
    )
    .await;
    json_patch_vm(
        &client,
        "a",
        json!([{"op": "replace", "path": "/spec/template/spec/domain/cpu/cores", "value": 4}]),
    )
    .await;
    until(&vm_api(&client), "a", "RestartRequired", |v| {
        cond(v, "RestartRequired").as_deref() == Some("True")
    })
    .await;

    json_patch_vm(&client, "a", json!([
        {"op": "replace", "path": "/spec/template/spec/networks/1/multus/networkName", "value": "vlan20"},
        {"op": "replace", "path": "/spec/template/spec/domain/cpu/sockets", "value": 2},
    ])).await;
    let vmi = until(&vmis(&client), "a", "on vlan20", |v| {
        v["spec"]["networks"][1]["multus"]["networkName"] == "vlan20"
    })
    .await;
    assert_eq!(vmi["spec"]["domain"]["cpu"]["sockets"], 1, "no CPU hotplug");
    let vm = value(&vm_api(&client).get("a").await.unwrap());
    assert_eq!(cond(&vm, "RestartRequired").as_deref(), Some("True"));
}

/// kubevirt/kubevirt v1.9.0: pkg/network/controllers/vm.go `Sync` runs for a VM without a VMI
/// too, and `clearDetachedIfacesFromVM` drops an interface marked absent (with its network)
/// from a stopped VM's template at once.
#[tokio::test]
async fn an_absent_interface_leaves_a_stopped_vms_template() {
    let (_sim, client) = cluster().await;
    let mut vm = value(&vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0"));
    vm["spec"]["runStrategy"] = json!("Halted");
    let vm: DynamicObject = serde_json::from_value(vm).unwrap();
    vm_api(&client)
        .create(&Default::default(), &vm)
        .await
        .unwrap();
    json_patch_vm(&client, "a", json!([{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/state", "value": "absent"}])).await;
    let vm = until(&vm_api(&client), "a", "without net1", |v| {
        v["spec"]["template"]["spec"]["networks"]
            .as_array()
            .is_some_and(|n| n.len() == 1)
    })
    .await;
    let ifaces = &vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"];
    assert_eq!(ifaces.as_array().map(Vec::len), Some(1), "{ifaces}");
    assert_eq!(ifaces[0]["name"], "default");
}

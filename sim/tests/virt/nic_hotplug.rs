//! NIC hotplug and unplug on a running VM (migration-based, reference §5): pending, then
//! MigrationRequired and a workload-update migration; the guest gains or loses the NIC; an
//! unplugged NIC leaves status, VMI spec and VM template in that order (the slot limit is in
//! the conformance tests).

use super::*;
use crate::common::net::{nad, reaches, single_nic_vm, start, trunk_bridge, vm_on};

fn vms(client: &kube::Client) -> Api<DynamicObject> {
    api(client, "VirtualMachine", "virtualmachines")
}

async fn json_patch(client: &kube::Client, name: &str, ops: Value) {
    let patch: json_patch::Patch = serde_json::from_value(ops).unwrap();
    vms(client)
        .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap();
}

fn reasons(v: &Value) -> Option<(String, String)> {
    let c = v["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "MigrationRequired")?;
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str()?.to_string(),
    ))
}

fn status_iface<'a>(vmi: &'a Value, name: &str) -> Option<&'a Value> {
    vmi["status"]["interfaces"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)
}

#[tokio::test]
async fn a_hotplugged_bridge_nic_arrives_through_a_migration_and_an_unplugged_one_leaves() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    start(
        &client,
        vm_on("peer", "vlan10", &["10.200.0.2/24"], "worker-1"),
    )
    .await;
    start(&client, single_nic_vm("a", "10.200.0.1/24")).await;
    let (boot_id, _) = ssh(&client, "a", KEY_FILE, BOOT_ID).await.unwrap();

    json_patch(&client, "a", json!([
        {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", "value": {"name": "iface1", "bridge": {}}},
        {"op": "add", "path": "/spec/template/spec/networks/-", "value": {"name": "iface1", "multus": {"networkName": "vlan10"}}}])).await;
    let pending = until(&vmis(&client), "a", "AutoMigrationPending", |v| {
        reasons(v).is_some()
    })
    .await;
    assert_eq!(
        reasons(&pending),
        Some(("False".into(), "AutoMigrationPending".into()))
    );
    assert_eq!(
        pending["spec"]["networks"][1]["name"], "iface1",
        "the VMI spec got the new network"
    );
    until(&vmis(&client), "a", "AutoMigrationDueToLiveUpdate", |v| {
        reasons(v) == Some(("True".into(), "AutoMigrationDueToLiveUpdate".into()))
    })
    .await;
    // The agent's view of it comes last (its progression: tests/conformance).
    let plugged = until(&vmis(&client), "a", "iface1 reported by the agent", |v| {
        status_iface(v, "iface1")
            .is_some_and(|i| i["infoSource"] == "domain, guest-agent, multus-status")
    })
    .await;
    let iface = status_iface(&plugged, "iface1").unwrap();
    assert!(
        iface["podInterfaceName"]
            .as_str()
            .unwrap()
            .starts_with("pod"),
        "{iface}"
    );
    let vm = value(&vms(&client).get("a").await.unwrap());
    assert_eq!(
        vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][1]["macAddress"],
        iface["mac"],
        "KubeMacPool's MAC"
    );
    let (links, _) = ssh(&client, "a", KEY_FILE, "ip -j link").await.unwrap();
    assert!(
        links.contains(iface["mac"].as_str().unwrap()),
        "the guest sees the new NIC: {links}"
    );
    assert!(reaches(&client, "a", "10.200.0.2").await);
    assert_eq!(
        ssh(&client, "a", KEY_FILE, BOOT_ID).await.unwrap().0,
        boot_id,
        "not rebooted"
    );

    json_patch(&client, "a", json!([{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/state", "value": "absent"}])).await;
    let vm = until(
        &vms(&client),
        "a",
        "iface1 cleared from the template",
        |v| {
            v["spec"]["template"]["spec"]["networks"]
                .as_array()
                .is_some_and(|n| n.len() == 1)
        },
    )
    .await;
    assert_eq!(
        vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let vmi = value(&vmis(&client).get("a").await.unwrap());
    assert!(status_iface(&vmi, "iface1").is_none());
    assert_eq!(vmi["spec"]["networks"].as_array().unwrap().len(), 1);
    assert_eq!(
        vmims(&client)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        2,
        "one migration each way"
    );
    assert!(
        !reaches(&client, "a", "10.200.0.2").await,
        "the NIC is gone from the guest"
    );
    assert_eq!(cond(&vm, "RestartRequired"), None);
}

/// The nic-hotplug-skips-migration regression: a NIC hot-plugged into a non-migratable VM
/// reaches the guest and the status at once, without a migration.
#[tokio::test]
async fn under_nic_hotplug_skips_migration_a_non_migratable_vm_gets_its_nic_at_once() {
    let (_sim, client) = cluster_with_faults("nic-hotplug-skips-migration").await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    let mut vm = value(&single_nic_vm("a", "10.200.0.1/24"));
    add_rwo_disk(&client, &mut vm, "a-data").await;
    start(&client, serde_json::from_value(vm).unwrap()).await;
    json_patch(&client, "a", json!([
        {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", "value": {"name": "iface1", "bridge": {}}},
        {"op": "add", "path": "/spec/template/spec/networks/-", "value": {"name": "iface1", "multus": {"networkName": "vlan10"}}}])).await;
    let plugged = until(&vmis(&client), "a", "iface1 reported by the agent", |v| {
        status_iface(v, "iface1")
            .is_some_and(|i| i["infoSource"] == "domain, guest-agent, multus-status")
    })
    .await;
    let mac = status_iface(&plugged, "iface1").unwrap()["mac"]
        .as_str()
        .unwrap()
        .to_string();
    let (links, _) = ssh(&client, "a", KEY_FILE, "ip -j link").await.unwrap();
    assert!(links.contains(&mac), "{links}");
    let all = vmims(&client)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    assert!(all.is_empty(), "no migration: {all:?}");
}

/// A hot-plugged NIC comes up in the guest before its addresses: NetworkManager activates the
/// profile cloud-init rendered for its MAC (nm-device.c activation stages) and a static IPv6
/// address goes through duplicate address detection first (RFC 4862 5.4). Slowed so that
/// the guest is surely asked inside those two modelled seconds (half a real second here).
#[tokio::test]
async fn a_hotplugged_nic_has_its_link_before_its_addresses() {
    let config = vstp_sim::SimConfig {
        time_scale: 4.0,
        ..vstp_sim::SimConfig::cluster(vstp_sim::world::nodes::ClusterSpec::tidy()).unwrap()
    };
    let (_sim, client) = start_with(config).await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    start(&client, single_nic_vm("a", "10.200.0.1/24")).await;
    json_patch(&client, "a", json!([
        {"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", "value": {"name": "iface1", "bridge": {}}},
        {"op": "add", "path": "/spec/template/spec/networks/-", "value": {"name": "iface1", "multus": {"networkName": "vlan10"}}}])).await;
    until(&vmis(&client), "a", "iface1 in the domain", |v| {
        status_iface(v, "iface1").is_some_and(|i| {
            i["infoSource"].as_str().unwrap_or("").contains("domain") && i["mac"].is_string()
        })
    })
    .await;
    let (now, _) = ssh(&client, "a", KEY_FILE, "ip -br addr show eth1")
        .await
        .unwrap();
    assert!(
        now.starts_with("eth1") && now.contains(" UP ") && !now.contains("10.200.0.1"),
        "the link is up, no address yet: {now:?}"
    );
    until(&vmis(&client), "a", "iface1 reported by the agent", |v| {
        status_iface(v, "iface1").is_some_and(|i| {
            i["infoSource"]
                .as_str()
                .unwrap_or("")
                .contains("guest-agent")
        })
    })
    .await;
    let (later, _) = ssh(&client, "a", KEY_FILE, "ip -br addr show eth1")
        .await
        .unwrap();
    assert!(later.contains("10.200.0.1/24"), "configured: {later:?}");
}

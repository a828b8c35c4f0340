//! The PCIe ports a VM has for hot-plugged NICs, and what becomes of a NIC beyond them.

use super::*;
use common::net::{nad, single_nic_vm, start, trunk_bridge, until_listed};

fn status_iface<'a>(vmi: &'a Value, name: &str) -> Option<&'a Value> {
    let list = vmi["status"]["interfaces"].as_array()?;
    list.iter().find(|i| i["name"] == name)
}

fn attached(vmi: &Value, name: &str) -> bool {
    status_iface(vmi, name).is_some_and(|i| {
        i["mac"].is_string() && i["infoSource"].as_str().unwrap_or("").contains("domain")
    })
}

/// kubevirt v1.9.0 pkg/virt-launcher/virtwrap/manager.go `allocateHotplugPorts`
/// (`calculatePlaceholderCount`, `calculateHotplugPortCountV2` over converter
/// `CountPCIDevices`): one NIC, one disk and 1Gi leave 3 ports. A fourth NIC still migrates
/// (the target pod attaches it), but `nichotplug.go` `hotplugVirtioInterface` is refused by
/// libvirt after the migration, and virt-handler records `SyncFailed` with the launcher's error
/// (pkg/virt-handler/vm.go, cmd-client `handleError`); the NIC's status entry stays
/// `multus-status` without a MAC.
#[tokio::test]
async fn a_nic_beyond_the_free_pcie_ports_migrates_but_is_refused_with_sync_failed() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    start(&client, single_nic_vm("a", "10.200.0.1/24")).await;
    let mut ops = Vec::new();
    for i in 0..4 {
        ops.push(json!({"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/-", "value": {"name": format!("nic{i}"), "bridge": {}}}));
        ops.push(json!({"op": "add", "path": "/spec/template/spec/networks/-", "value": {"name": format!("nic{i}"), "multus": {"networkName": "vlan10"}}}));
    }
    json_patch_vm(&client, "a", Value::Array(ops)).await;
    let vmi = until(&vmis(&client), "a", "three NICs plugged", |v| {
        (0..3).all(|i| attached(v, &format!("nic{i}")))
    })
    .await;
    let listed = migrations(&client).await;
    assert!(
        !listed.is_empty() && listed.iter().all(|m| m["status"]["phase"] == "Succeeded"),
        "the migration that carried the NICs succeeded: {listed:?}"
    );
    let uid = vmi["metadata"]["uid"].as_str().unwrap().to_string();
    let events = until_listed(
        &api(&client, "Event", "events"),
        "a SyncFailed event",
        |e| e["involvedObject"]["uid"] == uid.as_str() && e["reason"] == "SyncFailed",
    )
    .await;
    assert_eq!(events["type"], "Warning");
    assert_eq!(
        events["message"],
        "server error. command SyncVMI failed: \"LibvirtError(Code=1, Domain=20, Message='internal error: No more available PCI slots')\""
    );
    let last = holds(
        &vmis(&client),
        "a",
        60.0,
        "without nic3 in the domain",
        |v| !attached(v, "nic3"),
    )
    .await;
    let entry = status_iface(&last, "nic3").expect("nic3 has a status entry");
    assert_eq!(entry["infoSource"], "multus-status", "{entry}");
    assert!(entry["mac"].is_null(), "{entry}");
    assert_eq!(last["status"]["phase"], "Running");
    let (out, _) = ssh(&client, "a", KEY_FILE, "ip -j link").await.unwrap();
    let links: Vec<Value> = serde_json::from_str(&out).unwrap();
    let ether = links.iter().filter(|l| l["link_type"] == "ether").count();
    assert_eq!(ether, 4, "eth0 and three NICs: {out}");
}

//! Hot-unplug of a bridge NIC: detached from the running domain first, then the migration
//! takes its network off the pod.

use super::*;
use common::net::{nad, start, trunk_bridge, vm_on};

fn entry<'a>(vmi: &'a Value, name: &str) -> Option<&'a Value> {
    let list = vmi["status"]["interfaces"].as_array()?;
    list.iter().find(|i| i["name"] == name)
}

/// kubevirt v1.9.0 pkg/virt-launcher/virtwrap/network/nichotplug.go `hotUnplugVirtioInterface`
/// detaches an interface marked absent from the domain before any migration;
/// pkg/network/setup/netstat.go `UpdateStatus` then keeps only its `multus-status` entry
/// (no MAC), which pkg/network/migration/evaluator.go `shouldMigrateOnIfaceUnplug` needs to
/// ask for the migration that takes the network off the pod.
#[tokio::test]
async fn an_unplugged_nic_leaves_the_domain_before_the_migration() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    // Free to move: no node selector.
    let mut vm = value(&vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0"));
    vm["spec"]["template"]["spec"]["nodeSelector"] = Value::Null;
    start(&client, serde_json::from_value(vm).unwrap()).await;
    json_patch_vm(
        &client,
        "a",
        json!([{"op": "add", "path": "/spec/template/spec/domain/devices/interfaces/1/state", "value": "absent"}]),
    )
    .await;
    let history = history_until(&vmis(&client), "a", "net1 gone from the spec", |v| {
        let ifaces = v["spec"]["domain"]["devices"]["interfaces"].as_array();
        !ifaces.into_iter().flatten().any(|i| i["name"] == "net1")
    })
    .await;
    let detached = history
        .iter()
        .position(|v| entry(v, "net1").is_some_and(|e| e["infoSource"] == "multus-status"))
        .expect("net1 left the domain and kept its multus-status entry");
    let entry = entry(&history[detached], "net1").unwrap();
    assert!(entry["mac"].is_null(), "no MAC once detached: {entry}");
    assert!(
        history[..=detached]
            .iter()
            .all(|v| v["status"]["migrationState"].is_null()),
        "detached before any migration"
    );
    let migrated = history
        .iter()
        .position(|v| v["status"]["migrationState"]["completed"] == true)
        .expect("a migration took the network off the pod");
    assert!(detached < migrated);
    let (out, _) = ssh(&client, "a", KEY_FILE, "ip -j link").await.unwrap();
    let links: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(
        links.iter().filter(|l| l["link_type"] == "ether").count(),
        1,
        "{out}"
    );
}

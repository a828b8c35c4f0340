//! Secondary networks: NADs attached through the node's bridges, the L2 fabric that decides who
//! reaches whom (VLANs across nodes, IPv4 and IPv6), sandbox failures, and the live NAD
//! reference swap of reference §1.

use super::*;
use crate::common::net::{nad, reaches, start, trunk_bridge, vlan10_and_vlan20, vm_on};

#[tokio::test]
async fn vlans_isolate_across_nodes_and_a_live_nad_swap_moves_the_interface() {
    let (_sim, client) = cluster().await;
    vlan10_and_vlan20(&client).await;
    start(
        &client,
        vm_on(
            "a10",
            "vlan10",
            &["10.200.0.1/24", "fd00:200::1/64"],
            "worker-0",
        ),
    )
    .await;
    start(
        &client,
        vm_on(
            "b10",
            "vlan10",
            &["10.200.0.2/24", "fd00:200::2/64"],
            "worker-1",
        ),
    )
    .await;
    start(
        &client,
        vm_on(
            "c20",
            "vlan20",
            &["10.200.0.3/24", "fd00:200::3/64"],
            "worker-1",
        ),
    )
    .await;
    // Same VLAN across nodes: yes; another VLAN on the same subnet: no. IPv4 and IPv6 alike.
    assert!(
        reaches(&client, "a10", "10.200.0.2").await && reaches(&client, "a10", "fd00:200::2").await
    );
    assert!(
        !reaches(&client, "a10", "10.200.0.3").await
            && !reaches(&client, "a10", "fd00:200::3").await
    );

    ssh(
        &client,
        "a10",
        KEY_FILE,
        "python3 -m http.server 5000 >/dev/null 2>&1 &",
    )
    .await
    .unwrap();
    let tcp = |from: &'static str| {
        let client = client.clone();
        async move {
            ssh(
                &client,
                from,
                KEY_FILE,
                "timeout 2 bash -c ': </dev/tcp/10.200.0.1/5000'",
            )
            .await
            .unwrap()
            .1
        }
    };
    assert_eq!(
        (tcp("b10").await, tcp("c20").await),
        (0, 124),
        "TCP follows the VLANs too (no neighbour answers on the other VLAN: timeout kills the connect)"
    );

    // c20 moves to VLAN 10 with a live NAD reference change.
    let (boot_id, _) = ssh(&client, "c20", KEY_FILE, BOOT_ID).await.unwrap();
    let before = value(&vmis(&client).get("c20").await.unwrap());
    // As upstream's test does: swap the NAD and drop the pinning in one patch.
    let patch = json!([{"op": "replace", "path": "/spec/template/spec/networks/1/multus/networkName", "value": "vlan10"},
                       {"op": "remove", "path": "/spec/template/spec/nodeSelector"}]);
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    api(&client, "VirtualMachine", "virtualmachines")
        .patch("c20", &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap();
    let required = until(&vmis(&client), "c20", "MigrationRequired", |v| {
        cond(v, "MigrationRequired").as_deref() == Some("True")
    })
    .await;
    assert_eq!(
        required["spec"]["networks"][1]["multus"]["networkName"],
        "vlan10"
    );
    let reason = required["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "MigrationRequired")
        .unwrap()["reason"]
        .clone();
    assert_eq!(reason, "AutoMigrationDueToLiveUpdate");
    let after = until(&vmis(&client), "c20", "migrated", |v| {
        v["status"]["migrationState"]["completed"] == true && cond(v, "MigrationRequired").is_none()
    })
    .await;
    let m = value(
        &vmims(&client)
            .list(&Default::default())
            .await
            .unwrap()
            .items[0],
    );
    assert!(m["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("kubevirt-workload-update-"));
    assert_eq!(m["metadata"]["labels"]["kubevirt.io/vmi-name"], "c20");
    let vm = value(
        &api(&client, "VirtualMachine", "virtualmachines")
            .get("c20")
            .await
            .unwrap(),
    );
    assert_eq!(cond(&vm, "RestartRequired"), None);
    assert_ne!(after["status"]["nodeName"], before["status"]["nodeName"]);
    for field in ["name", "mac", "interfaceName", "podInterfaceName"] {
        assert_eq!(
            after["status"]["interfaces"][1][field], before["status"]["interfaces"][1][field],
            "{field} kept"
        );
    }
    assert_eq!(
        ssh(&client, "c20", KEY_FILE, BOOT_ID).await.unwrap().0,
        boot_id,
        "not rebooted"
    );
    assert!(
        reaches(&client, "a10", "10.200.0.3").await && reaches(&client, "c20", "fd00:200::1").await
    );
    assert_eq!(tcp("c20").await, 0, "TCP on the new VLAN");
    start(
        &client,
        vm_on("d20", "vlan20", &["10.200.0.4/24"], "worker-2"),
    )
    .await;
    assert!(
        !reaches(&client, "c20", "10.200.0.4").await,
        "the old VLAN is left behind"
    );
}

#[tokio::test]
async fn a_vlan_the_uplink_does_not_trunk_stays_on_its_node() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan99", "br1", 99).await;
    start(&client, vm_on("x", "vlan99", &["10.99.0.1/24"], "worker-0")).await;
    start(&client, vm_on("y", "vlan99", &["10.99.0.2/24"], "worker-1")).await;
    start(&client, vm_on("z", "vlan99", &["10.99.0.3/24"], "worker-0")).await;
    assert!(
        !reaches(&client, "x", "10.99.0.2").await,
        "VLAN 99 is filtered on eth1"
    );
    assert!(
        reaches(&client, "x", "10.99.0.3").await,
        "same node, same bridge and VLAN"
    );
}

/// A migration of a bridge-bound VM whose NAD leaves the container interface up: the target
/// pod's IPv6 neighbour messages carry the guest's MAC, the switches send its frames to the
/// target node, and the guest is cut off until the migration completes (kubevirt/kubevirt PR
/// 11069 "network, bridge binding: Enable container interface"); with
/// `disableContainerInterface` it keeps answering. The policy slows the copy so that the
/// peer surely pings while the migration runs.
#[tokio::test]
async fn during_a_migration_the_switches_follow_the_target_pod_unless_its_interface_starts_down() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    let quiet = json!({"cniVersion": "0.3.1", "name": "quiet10", "type": "bridge", "bridge": "br1",
        "vlan": 10, "disableContainerInterface": true});
    crate::common::net::nad_with(&client, "quiet10", quiet).await;
    for vm in ["a", "b"] {
        let slow: DynamicObject = serde_json::from_value(json!({"apiVersion": "migrations.kubevirt.io/v1alpha1",
            "kind": "MigrationPolicy", "metadata": {"name": format!("slow-{vm}")},
            "spec": {"selectors": {"virtualMachineInstanceSelector": {"app": vm}}, "bandwidthPerMigration": "5Mi", "completionTimeoutPerGiB": 800}}))
        .unwrap();
        api(&client, "MigrationPolicy", "migrationpolicies")
            .create(&PostParams::default(), &slow)
            .await
            .unwrap();
    }
    start(
        &client,
        vm_on("peer", "vlan10", &["10.200.0.2/24"], "worker-1"),
    )
    .await;
    start(
        &client,
        movable(vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0")),
    )
    .await;
    start(
        &client,
        movable(vm_on("b", "quiet10", &["10.200.0.3/24"], "worker-0")),
    )
    .await;
    let m = running_migration(&client, "a").await;
    assert!(
        !reaches(&client, "peer", "10.200.0.1").await,
        "lost while the target pod holds its MAC"
    );
    let name = m["metadata"]["name"].as_str().unwrap();
    until(&vmims(&client), name, "Succeeded", |m| {
        m["status"]["phase"] == "Succeeded"
    })
    .await;
    assert!(
        reaches(&client, "peer", "10.200.0.1").await,
        "found again on the target"
    );
    running_migration(&client, "b").await;
    assert!(
        reaches(&client, "peer", "10.200.0.3").await,
        "the interface started down"
    );
}

/// The VM without its node selector, so that it can migrate.
fn movable(vm: DynamicObject) -> DynamicObject {
    let mut vm = value(&vm);
    vm["spec"]["template"]["spec"]["nodeSelector"] = Value::Null;
    serde_json::from_value(vm).unwrap()
}

//! The connectivity matrix: VMs on VLAN 10 and 20 behind a Linux bridge and on two localnet
//! VLANs of an OVS bridge, across two nodes, all in one IP subnet so only layer 2 decides.
//! Every ordered pair is pinged over IPv4 and IPv6, before and after live NAD swaps; the
//! expectation comes from the table of who is on which network, nothing else.

use std::collections::BTreeMap;

use super::*;
use crate::common::net::{nad, nad_with, policy, reaches, start, trunk_bridge, vm_on};

/// VM → (network, node, host part of its addresses).
const VMS: [(&str, &str, &str, u8); 6] = [
    ("a10", "vlan10", "worker-0", 1),
    ("b10", "vlan10", "worker-1", 2),
    ("c20", "vlan20", "worker-0", 3),
    ("d20", "vlan20", "worker-1", 4),
    ("l10", "ln10", "worker-0", 5),
    ("m20", "ln20", "worker-1", 6),
];

fn addresses(host: u8) -> [String; 2] {
    [format!("10.200.0.{host}"), format!("fd00:200::{host}")]
}

/// Asserts every ordered pair reaches exactly when both sit on the same network.
async fn assert_matrix(client: &kube::Client, network: &BTreeMap<&str, &str>) {
    let mut probes = Vec::new();
    for (from, ..) in VMS {
        for (to, _, _, host) in VMS.iter().filter(|v| v.0 != from) {
            let expected = network[from] == network[to];
            for address in addresses(*host) {
                probes.push(async move {
                    let reached = reaches(client, from, &address).await;
                    (reached != expected)
                        .then(|| format!("{from} → {to} ({address}): expected reach={expected}"))
                });
            }
        }
    }
    let wrong: Vec<String> = futures::future::join_all(probes)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        wrong.is_empty(),
        "networks {network:?}:\n{}",
        wrong.join("\n")
    );
}

/// Moves `vm` to `nad` with a live NAD reference change (unpinned, so it can migrate) and
/// waits for the workload-update migration to finish.
async fn swap(client: &kube::Client, vm: &str, nad: &str) {
    let patch = json!([{"op": "replace", "path": "/spec/template/spec/networks/1/multus/networkName", "value": nad},
                       {"op": "remove", "path": "/spec/template/spec/nodeSelector"}]);
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    api(client, "VirtualMachine", "virtualmachines")
        .patch(vm, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap();
    until(&vmis(client), vm, "migrated onto the new NAD", |v| {
        v["spec"]["networks"][1]["multus"]["networkName"] == nad
            && v["status"]["migrationState"]["completed"] == true
            && cond(v, "MigrationRequired").is_none()
    })
    .await;
}

fn localnet(vlan: u32) -> Value {
    json!({"cniVersion": "0.3.1", "name": format!("tenantnet-{vlan}"), "type": "ovn-k8s-cni-overlay",
           "topology": "localnet", "physicalNetworkName": "tenantnet", "vlanID": vlan,
           "netAttachDefName": format!("default/ln{vlan}")})
}

#[tokio::test]
async fn who_reaches_whom_follows_the_networks_before_and_after_nad_swaps() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    policy(
        &client,
        "ovs-br2",
        json!({"interfaces": [{"name": "ovs-br2", "type": "ovs-bridge", "state": "up", "bridge": {"port": [{"name": "eth2"}]}}],
               "ovn": {"bridge-mappings": [{"localnet": "tenantnet", "bridge": "ovs-br2", "state": "present"}]}}),
    )
    .await;
    nad(&client, "vlan10", "br1", 10).await;
    nad(&client, "vlan20", "br1", 20).await;
    nad_with(&client, "ln10", localnet(10)).await;
    nad_with(&client, "ln20", localnet(20)).await;
    for (vm, nad, node, host) in VMS {
        let [v4, v6] = addresses(host);
        let cidrs = [format!("{v4}/24"), format!("{v6}/64")];
        let cidrs: Vec<&str> = cidrs.iter().map(String::as_str).collect();
        start(&client, vm_on(vm, nad, &cidrs, node)).await;
    }
    let mut network: BTreeMap<&str, &str> = VMS.iter().map(|v| (v.0, v.1)).collect();
    assert_matrix(&client, &network).await;

    swap(&client, "c20", "vlan10").await;
    swap(&client, "m20", "ln10").await;
    network.insert("c20", "vlan10");
    network.insert("m20", "ln10");
    assert_matrix(&client, &network).await;
}

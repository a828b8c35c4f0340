//! An OVS bridge mapped to a localnet carries OVN's patch ports; re-applying its port list
//! needs `allow-extra-patch-ports: true`.

use super::*;
use crate::common::net::nad_with;

fn ovs_bridge(allow_extra_patch_ports: Option<bool>) -> Value {
    let mut bridge = json!({"options": {"stp": {"enabled": false}}, "port": [{"name": "eth1"}]});
    if let Some(allow) = allow_extra_patch_ports {
        bridge["allow-extra-patch-ports"] = json!(allow);
    }
    json!({"interfaces": [{"name": "ovs-br1", "type": "ovs-bridge", "state": "up", "bridge": bridge}],
           "ovn": {"bridge-mappings": [{"localnet": "tenantnet", "bridge": "ovs-br1", "state": "present"}]}})
}

const PATCH_PORT: &str = "patch-tenantnet.10_ovn_localnet_port-to-br-int";

/// Maps `tenantnet` to ovs-br1 and creates a localnet NAD on it: OVN plugs its patch port.
async fn mapped_localnet(client: &kube::Client, allow: Option<bool>) {
    create(
        client,
        worker_policy("ovs-br1", ovs_bridge(allow), json!({})),
    )
    .await;
    assert_eq!(
        progress_of(client, "ovs-br1").await.last().unwrap().0,
        "Available"
    );
    let config = json!({"cniVersion": "1.0.0", "name": "tenantnet-10", "type": "ovn-k8s-cni-overlay",
        "topology": "localnet", "physicalNetworkName": "tenantnet", "vlanID": 10,
        "netAttachDefName": "default/ln10"});
    nad_with(client, "ln10", config).await;
}

/// Re-applies the bridge with one more option (a new generation, the same port list).
async fn reapply(client: &kube::Client, allow: Option<bool>) -> Vec<(String, String)> {
    let mut desired = ovs_bridge(allow);
    desired["interfaces"][0]["bridge"]["options"]["mcast-snooping-enable"] = json!(false);
    set_desired(client, "ovs-br1", desired).await;
    progress_of(client, "ovs-br1").await
}

/// nmstate rust/src/query_apply/ovs.rs process_allow_extra_ovs_patch_ports_for_verify and
/// query_apply/iface.rs verify: without `allow-extra-patch-ports` the patch port OVN keeps on
/// the bridge fails verification ("Verification failure: <iface>.interface.bridge.port desire
/// …, current …"), so each of kubernetes-nmstate's five applies fails and the policy ends
/// Degraded; the node keeps its state.
#[tokio::test]
async fn reapplying_a_localnet_bridge_without_allow_extra_patch_ports_fails_verification() {
    let (_sim, client) = cluster().await;
    mapped_localnet(&client, None).await;
    let progress = reapply(&client, None).await;
    assert_eq!(progress.last().unwrap().0, "Degraded", "{progress:?}");
    let states = enactment_states(&client, "ovs-br1").await;
    let failing = &states
        .iter()
        .find(|s| s.0 == "Failing")
        .expect("a failed node")
        .1;
    let expected = format!(
        "NmstateError: VerificationError: Verification failure: ovs-br1.interface.bridge.port desire '[{{\"name\":\"eth1\"}}]', current '[{{\"name\":\"eth1\"}},{{\"name\":\"{PATCH_PORT}\"}}]'"
    );
    assert!(failing.contains(&expected), "{failing}");
}

/// nmstate rust/src/lib/ifaces/ovs.rs process_allow_extra_ovs_patch_ports_for_apply: with
/// `allow-extra-patch-ports: true` the patch ports stay out of the change and the re-apply
/// succeeds; the option itself is not part of the node's state (OvsBridgeConfig doc).
#[tokio::test]
async fn reapplying_with_allow_extra_patch_ports_keeps_ovns_patch_port() {
    let (_sim, client) = cluster().await;
    mapped_localnet(&client, Some(true)).await;
    let progress = reapply(&client, Some(true)).await;
    assert_eq!(progress.last().unwrap().0, "Available", "{progress:?}");
    let state = value(&nnss(&client).get("worker-0").await.unwrap());
    let bridge = interface(&state, "ovs-br1").unwrap();
    let ports: Vec<&str> = bridge["bridge"]["port"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(ports, ["eth1", PATCH_PORT]);
    assert!(
        bridge["bridge"].get("allow-extra-patch-ports").is_none(),
        "{bridge}"
    );
    assert_eq!(
        interface(&state, PATCH_PORT).unwrap()["type"],
        "ovs-interface"
    );
}

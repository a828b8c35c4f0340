//! The NodeNetworkState of an OpenShift node with OVN-Kubernetes, as nmstate reports it
//! (nmstate rust/src/lib ovsdb/show.rs, nispor/base_iface.rs, nm/show.rs): the node's IP on
//! the internal interface `br-ex`, the first NIC a port of the OVS bridge `br-ex` naming it
//! as controller, spare NICs without addresses; on the untidy worker a bond of two NICs and
//! a NIC whose link is down.

use super::*;

fn find<'a>(state: &'a Value, name: &str, ty: &str) -> &'a Value {
    state["status"]["currentState"]["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name && i["type"] == ty)
        .unwrap_or_else(|| panic!("no {ty} {name} in {state}"))
}

async fn state_of(client: &kube::Client, node: &str) -> Value {
    value(&nnss(client).get(node).await.unwrap())
}

#[tokio::test]
async fn the_node_ip_is_on_br_ex_and_the_first_nic_is_its_port() {
    let (_sim, client) = untidy_cluster().await;
    let node = value(&api(&client, "Node", "nodes").get("worker-0").await.unwrap());
    let node_ip = node["status"]["addresses"][0]["address"].clone();
    let state = state_of(&client, "worker-0").await;

    let internal = find(&state, "br-ex", "ovs-interface");
    assert_eq!(internal["ipv4"]["address"][0]["ip"], node_ip, "{internal}");
    assert_eq!(internal["controller"], "br-ex");
    let bridge = find(&state, "br-ex", "ovs-bridge");
    let ports: Vec<&Value> = bridge["bridge"]["port"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["name"])
        .collect();
    assert_eq!(ports, [&json!("br-ex"), &json!("eth0")], "{bridge}");
    assert!(bridge.get("controller").is_none(), "{bridge}");

    let uplink = find(&state, "eth0", "ethernet");
    assert_eq!(
        (&uplink["controller"], &uplink["state"]),
        (&json!("br-ex"), &json!("up"))
    );
    assert_eq!(uplink["ipv4"]["enabled"], false, "{uplink}");
    for spare in ["eth1", "eth2"] {
        let nic = find(&state, spare, "ethernet");
        assert_eq!(nic["state"], "up", "{nic}");
        assert!(nic.get("controller").is_none(), "{nic}");
        assert_eq!(nic["ipv4"]["enabled"], false, "{nic}");
    }
    assert_eq!(
        state["status"]["currentState"]["ovn"]["bridge-mappings"],
        json!([{"localnet": "physnet", "bridge": "br-ex"}])
    );
}

#[tokio::test]
async fn the_taken_worker_has_eth1_bonded_and_eth2_down() {
    let (_sim, client) = untidy_cluster().await;
    let state = state_of(&client, "worker-5").await;
    let bond = find(&state, "bond0", "bond");
    assert_eq!(
        bond["link-aggregation"]["port"],
        json!(["eth1", "eth3"]),
        "{bond}"
    );
    assert!(bond["ipv4"]["address"][0]["ip"].is_string(), "{bond}");
    for port in ["eth1", "eth3"] {
        assert_eq!(find(&state, port, "ethernet")["controller"], "bond0");
    }
    let down = find(&state, "eth2", "ethernet");
    assert_eq!(down["state"], "down", "{down}");
    assert_eq!(find(&state, "eth0", "ethernet")["controller"], "br-ex");
}

/// A policy that re-states the gateway bridge leaves its internal interface alone: one
/// `br-ex` of each type after it (nmstate keeps the OVS internal port, it does not add a
/// second one).
#[tokio::test]
async fn a_policy_on_br_ex_keeps_one_internal_interface() {
    let (_sim, client) = untidy_cluster().await;
    let desired = json!({"interfaces": [{"name": "br-ex", "type": "ovs-bridge", "state": "up",
        "bridge": {"allow-extra-patch-ports": true, "port": [{"name": "br-ex"}, {"name": "eth0"}]}}]});
    let only = json!({"nodeSelector": {"kubernetes.io/hostname": "worker-0"}});
    create(&client, worker_policy("br-ex-again", desired, only)).await;
    until(&nncps(&client), "br-ex-again", "Available", |p| {
        cond(p, "Available") == Some("True".to_string())
    })
    .await;
    let state = state_of(&client, "worker-0").await;
    let named: Vec<&Value> = state["status"]["currentState"]["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["name"] == "br-ex")
        .map(|i| &i["type"])
        .collect();
    assert_eq!(named, [&json!("ovs-bridge"), &json!("ovs-interface")]);
    assert!(find(&state, "br-ex", "ovs-interface")["ipv4"]["address"][0]["ip"].is_string());
}

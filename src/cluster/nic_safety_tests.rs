use serde_json::{json, Value};

use super::*;

/// A worker as OVN-Kubernetes leaves it on OpenShift: eth0 the port of `br-ex`, whose
/// internal interface holds the node's IP; eth1 bonded with eth3 into bond0 (a storage
/// address on the bond); eth2 a spare NIC whose link is down; eth4 a spare NIC with an
/// address of its own; eth5 a port of a Linux bridge; eth6 spare and clean.
fn state() -> Value {
    json!({"interfaces": [
        {"name": "eth0", "type": "ethernet", "state": "up", "controller": "br-ex",
         "ipv4": {"enabled": false}, "ipv6": {"enabled": false}},
        {"name": "br-ex", "type": "ovs-bridge", "state": "up",
         "bridge": {"port": [{"name": "br-ex"}, {"name": "eth0"}]}},
        {"name": "br-ex", "type": "ovs-interface", "state": "up",
         "ipv4": {"enabled": true, "address": [{"ip": "192.168.111.30", "prefix-length": 24}]},
         "ipv6": {"enabled": true, "address": [{"ip": "fe80::1", "prefix-length": 64}]}},
        {"name": "eth1", "type": "ethernet", "state": "up", "controller": "bond0"},
        {"name": "eth3", "type": "ethernet", "state": "up"},
        {"name": "bond0", "type": "bond", "state": "up",
         "link-aggregation": {"mode": "active-backup", "port": ["eth1", "eth3"]},
         "ipv4": {"enabled": true, "address": [{"ip": "172.16.0.5", "prefix-length": 24}]}},
        {"name": "eth2", "type": "ethernet", "state": "down", "ipv4": {"enabled": false}},
        {"name": "eth4", "type": "ethernet", "state": "up",
         "ipv4": {"enabled": true, "address": [{"ip": "10.0.0.7", "prefix-length": 24}]},
         "ipv6": {"enabled": true, "address": [{"ip": "fe80::7", "prefix-length": 64}]}},
        {"name": "eth5", "type": "ethernet", "state": "up"},
        {"name": "br1", "type": "linux-bridge", "state": "up", "bridge": {"port": [{"name": "eth5"}]}},
        {"name": "eth6", "type": "ethernet", "state": "up",
         "ipv4": {"enabled": false}, "ipv6": {"enabled": true, "address": [{"ip": "fe80::6", "prefix-length": 64}]}}]})
}

fn of(nic: &str) -> Vec<NicHazard> {
    hazards(&state(), nic, &["192.168.111.30".into()], &[])
}

#[test]
fn the_br_ex_uplink_is_refused() {
    assert_eq!(of("eth0"), [NicHazard::GatewayUplink]);
    // Without the `controller` field (older nmstate), br-ex's port list still says so.
    let mut older = state();
    older["interfaces"][0]
        .as_object_mut()
        .unwrap()
        .remove("controller");
    assert_eq!(
        hazards(&older, "eth0", &[], &[]),
        [NicHazard::GatewayUplink]
    );
}

#[test]
fn a_bond_member_is_refused_by_its_own_field_or_the_bond_port_list() {
    let bond = NicHazard::PortOf("bond0".into(), "bond".into());
    assert_eq!(of("eth1"), std::slice::from_ref(&bond));
    // eth3 does not name its controller: the bond's port list does.
    assert_eq!(of("eth3"), [bond]);
}

#[test]
fn a_bridge_port_is_refused_unless_the_bridge_is_the_harness_own() {
    let bridge = NicHazard::PortOf("br1".into(), "linux-bridge".into());
    assert_eq!(of("eth5"), [bridge]);
    assert_eq!(hazards(&state(), "eth5", &[], &["br1"]), []);
}

#[test]
fn a_nic_with_the_node_ip_or_another_address_is_refused() {
    let mut with_node_ip = state();
    with_node_ip["interfaces"][8]["ipv4"] = json!({"enabled": true,
        "address": [{"ip": "192.168.111.30", "prefix-length": 24}]});
    assert_eq!(
        hazards(&with_node_ip, "eth5", &["192.168.111.30".into()], &["br1"]),
        [NicHazard::NodeIp("192.168.111.30".into())]
    );
    assert_eq!(of("eth4"), [NicHazard::Address("10.0.0.7".into())]);
}

#[test]
fn the_gateway_bridge_itself_is_refused_for_the_node_ip_on_its_internal_interface() {
    assert_eq!(of("br-ex"), [NicHazard::NodeIp("192.168.111.30".into())]);
}

#[test]
fn a_link_down_is_refused() {
    assert_eq!(of("eth2"), [NicHazard::LinkDown]);
}

#[test]
fn a_clean_spare_nic_and_an_absent_one_have_no_hazard() {
    assert_eq!(of("eth6"), []);
    assert_eq!(of("eth9"), []);
}

#[test]
fn each_hazard_names_what_the_nic_is() {
    let text: Vec<String> = [
        NicHazard::GatewayUplink,
        NicHazard::PortOf("bond0".into(), "bond".into()),
        NicHazard::NodeIp("192.168.111.30".into()),
        NicHazard::LinkDown,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert!(text[0].contains("br-ex uplink"), "{}", text[0]);
    assert_eq!(text[1], "is a port of bond bond0");
    assert_eq!(text[2], "carries the node's IP 192.168.111.30");
    assert!(text[3].contains("state: down"), "{}", text[3]);
}

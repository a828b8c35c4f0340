//! Whether a NIC may be given to a node network policy, read from the node's
//! NodeNetworkState. nmstate moves a port that belongs to a bond or a bridge into the new
//! bridge without complaint (nmstate rust/src/lib/ifaces/inter_ifaces_controller.rs
//! check_overbook_ports only refuses a port two *desired* controllers claim; its unit tests
//! test_overbook_port_used_in_current_bridge/_bond accept the move), and takes the address
//! off a NIC it makes a port. A policy on the wrong NIC therefore cuts the node off instead
//! of failing, and the harness has to refuse it first.

use std::fmt;

use serde_json::Value;

/// The OVS bridge that carries the node's IP on OpenShift with OVN-Kubernetes: configure-ovs
/// moves the node's address from the uplink NIC (or bond) onto `br-ex` and makes the NIC its
/// port (machine-config-operator templates/common/_base/files/configure-ovs-network.yaml
/// configure-ovs.sh; ovn-kubernetes go-controller/pkg/node/gateway_shared_intf.go
/// bridgeForInterface uses it as the gateway bridge).
pub const GATEWAY_BRIDGE: &str = "br-ex";

/// Why a NIC must not become a port of a harness bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicHazard {
    /// A port of the gateway bridge: the node's traffic, cluster network included.
    GatewayUplink,
    /// A port of another bond or bridge: (controller, its type).
    PortOf(String, String),
    /// The NIC holds the node's own address.
    NodeIp(String),
    /// The NIC holds an address some other network of the node uses.
    Address(String),
    /// nmstate reports the link `state: down`.
    LinkDown,
}

impl fmt::Display for NicHazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NicHazard::GatewayUplink => write!(
                f,
                "is the {GATEWAY_BRIDGE} uplink (a port of the OVS bridge that carries the node's IP)"
            ),
            NicHazard::PortOf(controller, kind) => write!(f, "is a port of {kind} {controller}"),
            NicHazard::NodeIp(ip) => write!(f, "carries the node's IP {ip}"),
            NicHazard::Address(ip) => write!(f, "carries address {ip}"),
            NicHazard::LinkDown => write!(f, "has its link down (state: down)"),
        }
    }
}

/// Every hazard of `nic` in `current` (a NodeNetworkState's `status.currentState`) on a node
/// with `node_ips`. Ports of `own` (the bridges the harness's policy itself declares) are
/// not hazards: the policy states them again. An absent NIC has no hazards here.
pub fn hazards(current: &Value, nic: &str, node_ips: &[String], own: &[&str]) -> Vec<NicHazard> {
    let interfaces = current["interfaces"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    // Usually one entry; an OVS bridge and its internal interface share a name.
    let entries: Vec<&Value> = interfaces.iter().filter(|i| i["name"] == nic).collect();
    let mut found = Vec::new();
    let named = entries.iter().flat_map(|i| controllers(interfaces, i, nic));
    // An OVS bridge lists its own internal port: not a controller of itself.
    let mut all: Vec<String> = named.filter(|c| c != nic).collect();
    all.dedup();
    for controller in all {
        if own.contains(&controller.as_str()) {
            continue;
        }
        let hazard = if controller == GATEWAY_BRIDGE {
            NicHazard::GatewayUplink
        } else {
            NicHazard::PortOf(controller.clone(), kind_of(interfaces, &controller))
        };
        if !found.contains(&hazard) {
            found.push(hazard);
        }
    }
    for ip in entries.iter().flat_map(|i| addresses(i)) {
        found.push(if node_ips.contains(&ip) {
            NicHazard::NodeIp(ip)
        } else {
            NicHazard::Address(ip)
        });
    }
    if entries.iter().any(|i| i["state"] == "down") {
        found.push(NicHazard::LinkDown);
    }
    found
}

/// The controllers of `nic`: what the NIC names (`controller` since nmstate 2, `master`
/// before) and every bond (`link-aggregation.port`) or bridge (`bridge.port[].name`) that
/// lists it.
fn controllers(interfaces: &[Value], iface: &Value, nic: &str) -> Vec<String> {
    let mut named: Vec<String> = ["controller", "master"]
        .iter()
        .filter_map(|k| iface[*k].as_str())
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    for other in interfaces {
        let bond_ports = other["link-aggregation"]["port"].as_array();
        let bridge_ports = other["bridge"]["port"].as_array();
        let in_bond = bond_ports.is_some_and(|p| p.iter().any(|p| p == nic));
        let in_bridge = bridge_ports.is_some_and(|p| p.iter().any(|p| p["name"] == nic));
        if in_bond || in_bridge {
            named.push(other["name"].as_str().unwrap_or("").to_string());
        }
    }
    named.dedup();
    named
}

/// The type of controller `name`; an OVS bridge and its internal interface share the name,
/// so the controller type wins.
fn kind_of(interfaces: &[Value], name: &str) -> String {
    let types: Vec<&str> = interfaces
        .iter()
        .filter(|i| i["name"] == name)
        .filter_map(|i| i["type"].as_str())
        .collect();
    let controller = ["bond", "linux-bridge", "ovs-bridge"]
        .into_iter()
        .find(|t| types.contains(t));
    controller
        .or(types.first().copied())
        .unwrap_or("controller")
        .to_string()
}

/// The IPv4 and IPv6 addresses nmstate lists on `iface` (IPv6 link-local excepted: every
/// up link has one).
fn addresses(iface: &Value) -> Vec<String> {
    ["ipv4", "ipv6"]
        .iter()
        .filter(|family| iface[**family]["enabled"] != false)
        .flat_map(|family| iface[*family]["address"].as_array().into_iter().flatten())
        .filter_map(|a| a["ip"].as_str())
        .filter(|ip| !ip.to_ascii_lowercase().starts_with("fe80:"))
        .map(String::from)
        .collect()
}

#[cfg(test)]
#[path = "nic_safety_tests.rs"]
mod tests;

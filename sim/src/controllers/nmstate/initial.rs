//! The NodeNetworkState a node reports before any policy, shaped as an OpenShift node with
//! OVN-Kubernetes shows it: the first NIC is the port of the OVS bridge `br-ex`, whose
//! internal interface of the same name holds the node's IP (machine-config-operator
//! templates/common/_base/files/configure-ovs-network.yaml configure-ovs.sh moves the
//! address off the NIC), mapped as the default `physnet`; the spare NICs have no address.
//! A node may also have spare NICs bonded (`vstp.io/bond`) or down (`vstp.io/nics-down`).
//!
//! How nmstate shows these (nmstate rust/src/lib): every port names its controller
//! (ovsdb/show.rs sets `controller` on each port of an OVS bridge, nispor/base_iface.rs on
//! each kernel port); a bond lists its ports in `link-aggregation.port`; an OVS bridge lists
//! its internal port, named as the bridge, in `bridge.port`; `state: up` means the link is
//! administratively up (nispor/base_iface.rs From<(IfaceState, flags)> takes the IFF_UP flag
//! for up, so an up link without carrier is still `up`), `state: down` a link that is down
//! (or that NetworkManager left disconnected, nm/show.rs nm_dev_to_nm_iface).

use serde_json::{json, Value};

use crate::obj;

/// `vstp.io/bond`: `<bond>=<nic>,<nic>[=<address>]`, the bond a node's spare NICs form.
pub const BOND: &str = "vstp.io/bond";
/// `vstp.io/nics-down`: the NICs whose link is down, comma separated.
pub const NICS_DOWN: &str = "vstp.io/nics-down";

/// The NodeNetworkState of a fresh `node`.
pub fn state(node: &Value) -> Value {
    let nics: Vec<&str> = obj::annotation(node, "vstp.io/nics")
        .unwrap_or("eth0")
        .split(',')
        .collect();
    let down: Vec<&str> = obj::annotation(node, NICS_DOWN)
        .map(|d| d.split(',').collect())
        .unwrap_or_default();
    let bond = obj::annotation(node, BOND).and_then(parse_bond);
    let address = node["status"]["addresses"][0]["address"]
        .as_str()
        .unwrap_or("");
    let uplink = nics.first().copied().unwrap_or("eth0");
    let mut interfaces = vec![json!({"name": "lo", "type": "loopback", "state": "up"})];
    for nic in &nics {
        let mut iface = json!({"name": nic, "type": "ethernet", "state": "up", "mtu": 1500,
                               "ipv4": {"enabled": false}, "ipv6": {"enabled": false}});
        if *nic == uplink {
            iface["controller"] = json!("br-ex");
        }
        if let Some((name, ports, _)) = &bond {
            if ports.iter().any(|p| p == nic) {
                iface["controller"] = json!(name);
            }
        }
        if down.contains(nic) {
            iface = json!({"name": nic, "type": "ethernet", "state": "down"});
        }
        interfaces.push(iface);
    }
    interfaces.push(json!({"name": "br-ex", "type": "ovs-bridge", "state": "up",
        "bridge": {"port": [{"name": "br-ex"}, {"name": uplink}]}}));
    interfaces.push(
        json!({"name": "br-ex", "type": "ovs-interface", "state": "up",
        "controller": "br-ex", "mtu": 1500,
        "ipv4": {"enabled": true, "dhcp": true, "address": [{"ip": address, "prefix-length": 24}]},
        "ipv6": {"enabled": false}}),
    );
    if let Some((name, ports, address)) = bond {
        let mut iface = json!({"name": name, "type": "bond", "state": "up", "mtu": 1500,
            "link-aggregation": {"mode": "active-backup", "options": {"miimon": 100}, "port": ports},
            "ipv4": {"enabled": false}, "ipv6": {"enabled": false}});
        if let Some(address) = address {
            iface["ipv4"] = json!({"enabled": true, "dhcp": false,
                "address": [{"ip": address, "prefix-length": 24}]});
        }
        interfaces.push(iface);
    }
    json!({"metadata": {"name": obj::name(node)},
           "status": {"currentState": {"interfaces": interfaces, "ovn": {"bridge-mappings": [{"localnet": "physnet", "bridge": "br-ex"}]}},
                      "lastSuccessfulUpdateTime": null}})
}

/// `bond0=eth1,eth3=172.16.0.5` → (bond0, [eth1, eth3], Some(172.16.0.5)).
fn parse_bond(text: &str) -> Option<(String, Vec<String>, Option<String>)> {
    let mut parts = text.split('=');
    let name = parts.next().filter(|n| !n.is_empty())?.to_string();
    let ports = parts.next()?.split(',').map(String::from).collect();
    Some((name, ports, parts.next().map(String::from)))
}

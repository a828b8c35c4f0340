//! Which controller each port belongs to after an apply. A port a desired bond or bridge
//! lists is attached to it, and the kernel takes it off the controller it had
//! (nmstate rust/src/lib/ifaces/inter_ifaces_controller.rs handle_changed_ports: attached
//! ports get the new controller, and check_overbook_ports refuses only a port two desired
//! controllers claim; unit_tests/ifaces_ctrller.rs test_overbook_port_used_in_current_bond).
//! Every port then names its controller (nmstate ovsdb/show.rs, nispor/base_iface.rs).

use serde_json::{json, Value};

const CONTROLLERS: [&str; 3] = ["bond", "linux-bridge", "ovs-bridge"];

/// The port names a bond (`link-aggregation.port`) or bridge (`bridge.port[].name`) lists.
pub fn ports_of(iface: &Value) -> Vec<String> {
    let bond = iface["link-aggregation"]["port"].as_array().into_iter();
    let bridge = iface["bridge"]["port"].as_array().into_iter();
    let bond = bond.flatten().filter_map(|p| p.as_str());
    let bridge = bridge.flatten().filter_map(|p| p["name"].as_str());
    bond.chain(bridge).map(String::from).collect()
}

fn is_controller(iface: &Value) -> bool {
    CONTROLLERS.contains(&iface["type"].as_str().unwrap_or(""))
}

/// Moves the ports the `desired` controllers list off any other controller, then sets (or
/// clears) every interface's `controller` from the port lists.
pub fn settle(interfaces: &mut [Value], desired: &[String]) {
    let claimed: Vec<(String, String)> = interfaces
        .iter()
        .filter(|i| is_controller(i) && desired.iter().any(|d| i["name"] == d.as_str()))
        .flat_map(|c| {
            let name = c["name"].as_str().unwrap_or("").to_string();
            ports_of(c).into_iter().map(move |p| (name.clone(), p))
        })
        .collect();
    for iface in interfaces.iter_mut().filter(|i| is_controller(i)) {
        let name = iface["name"].as_str().unwrap_or("").to_string();
        let taken = |port: &str| claimed.iter().any(|(c, p)| *c != name && p == port);
        // pointer_mut, not IndexMut: indexing would add the fields the controller lacks.
        let bond_ports = iface.pointer_mut("/link-aggregation/port");
        if let Some(ports) = bond_ports.and_then(Value::as_array_mut) {
            ports.retain(|p| !taken(p.as_str().unwrap_or("")));
        }
        let bridge_ports = iface.pointer_mut("/bridge/port");
        if let Some(ports) = bridge_ports.and_then(Value::as_array_mut) {
            ports.retain(|p| !taken(p["name"].as_str().unwrap_or("")));
        }
    }
    let owners: Vec<(String, String, String)> = interfaces
        .iter()
        .filter(|i| is_controller(i))
        .flat_map(|c| {
            let (name, ty) = (c["name"].as_str().unwrap_or(""), c["type"].as_str());
            let (name, ty) = (name.to_string(), ty.unwrap_or("").to_string());
            ports_of(c)
                .into_iter()
                .map(move |p| (name.clone(), ty.clone(), p))
        })
        .collect();
    for iface in interfaces.iter_mut() {
        let owner = owners.iter().find(|(c, ty, p)| {
            iface["name"] == p.as_str()
                && !(iface["name"] == c.as_str() && iface["type"] == ty.as_str())
        });
        match (owner, iface.as_object_mut()) {
            (Some((c, _, _)), Some(fields)) => {
                fields.insert("controller".into(), json!(c));
            }
            (None, Some(fields)) => {
                fields.remove("controller");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bond_port_taken_by_a_new_bridge_leaves_the_bond_and_names_the_bridge() {
        let mut interfaces = vec![
            json!({"name": "eth1", "type": "ethernet", "controller": "bond0"}),
            json!({"name": "eth3", "type": "ethernet", "controller": "bond0"}),
            json!({"name": "bond0", "type": "bond", "link-aggregation": {"port": ["eth1", "eth3"]}}),
            json!({"name": "br1", "type": "linux-bridge", "bridge": {"port": [{"name": "eth1"}]}}),
            json!({"name": "br-ex", "type": "ovs-bridge", "bridge": {"port": [{"name": "br-ex"}]}}),
            json!({"name": "br-ex", "type": "ovs-interface"}),
        ];
        settle(&mut interfaces, &["br1".into()]);
        assert_eq!(interfaces[0]["controller"], "br1");
        assert_eq!(interfaces[1]["controller"], "bond0");
        assert_eq!(interfaces[2]["link-aggregation"]["port"], json!(["eth3"]));
        assert!(
            interfaces[4].get("controller").is_none(),
            "{}",
            interfaces[4]
        );
        assert_eq!(interfaces[5]["controller"], "br-ex");
        // The bridge gone, its port has no controller.
        interfaces.remove(3);
        settle(&mut interfaces, &[]);
        assert!(
            interfaces[0].get("controller").is_none(),
            "{}",
            interfaces[0]
        );
    }
}

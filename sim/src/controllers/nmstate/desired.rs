//! What nmstate does with a policy's desiredState on one node: merges it into the node's
//! current state, or refuses it with a reason, leaving the node as it was. Interpreted:
//! ethernet, linux-bridge and ovs-bridge interfaces with ports and VLAN filtering
//! (`trunk-tags` with `id` / `id-range`, access `tag`), `state: absent`, and OVN
//! `bridge-mappings` (localnet → OVS bridge).

use serde_json::{json, Value};

const BRIDGES: [&str; 2] = ["linux-bridge", "ovs-bridge"];

/// The node's state after `desired`, or why it cannot be applied.
pub fn apply(current: &Value, desired: &Value) -> Result<Value, String> {
    let mut state = current.clone();
    let mut interfaces: Vec<Value> = state["interfaces"].as_array().cloned().unwrap_or_default();
    for wanted in desired["interfaces"].as_array().into_iter().flatten() {
        let name = wanted["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or("an interface has no name")?;
        let at = interfaces.iter().position(|i| i["name"] == name);
        if wanted["state"] == "absent" {
            if let Some(at) = at {
                interfaces.remove(at);
            }
            continue;
        }
        let merged = match at {
            Some(at) => merge(&interfaces[at], wanted),
            None => {
                let ty = wanted["type"]
                    .as_str()
                    .ok_or_else(|| format!("interface {name} is new and has no type"))?;
                merge(&json!({"name": name, "type": ty, "state": "up"}), wanted)
            }
        };
        match at {
            Some(at) => interfaces[at] = merged,
            None => interfaces.push(merged),
        }
    }
    for bridge in interfaces
        .iter()
        .filter(|i| BRIDGES.contains(&i["type"].as_str().unwrap_or("")))
    {
        check_bridge(bridge, &interfaces)?;
    }
    state["interfaces"] = Value::Array(interfaces);
    apply_mappings(&mut state, &desired["ovn"]["bridge-mappings"])?;
    Ok(state)
}

/// nmstate merges a partial interface description into the existing one.
fn merge(current: &Value, wanted: &Value) -> Value {
    let mut out = current.clone();
    json_patch::merge(&mut out, wanted);
    // Lists are replaced, not merged: the port list says the whole truth.
    if let Some(ports) = wanted["bridge"]["port"].as_array() {
        out["bridge"]["port"] = Value::Array(ports.clone());
    }
    out
}

fn check_bridge(bridge: &Value, all: &[Value]) -> Result<(), String> {
    let name = bridge["name"].as_str().unwrap_or("");
    for port in bridge["bridge"]["port"].as_array().into_iter().flatten() {
        let port_name = port["name"].as_str().unwrap_or("");
        let exists = all
            .iter()
            .any(|i| i["name"] == port_name && i["name"] != name);
        if !exists {
            return Err(format!(
                "InvalidArgument: {} {name}: port {port_name} does not exist on this node",
                bridge["type"].as_str().unwrap_or("bridge")
            ));
        }
        check_vlan(name, port_name, &port["vlan"])?;
    }
    Ok(())
}

fn check_vlan(bridge: &str, port: &str, vlan: &Value) -> Result<(), String> {
    if vlan.is_null() {
        return Ok(());
    }
    let bad = |what: String| {
        Err(format!(
            "InvalidArgument: bridge {bridge} port {port}: {what}"
        ))
    };
    let valid = |id: &Value| id.as_u64().is_some_and(|id| (1..=4094).contains(&id));
    let mode = vlan["mode"].as_str().unwrap_or("trunk");
    if !vlan["tag"].is_null() && !valid(&vlan["tag"]) {
        return bad(format!("VLAN tag {} is outside 1-4094", vlan["tag"]));
    }
    match mode {
        "access" if vlan["tag"].is_null() => return bad("access mode needs a tag".into()),
        "access" | "trunk" => {}
        other => return bad(format!("unknown VLAN mode {other:?}")),
    }
    for tag in vlan["trunk-tags"].as_array().into_iter().flatten() {
        if !tag["id"].is_null() {
            if !valid(&tag["id"]) {
                return bad(format!("trunk VLAN id {} is outside 1-4094", tag["id"]));
            }
            continue;
        }
        let (min, max) = (&tag["id-range"]["min"], &tag["id-range"]["max"]);
        if !valid(min) || !valid(max) || min.as_u64() > max.as_u64() {
            return bad(format!(
                "trunk VLAN range {min}-{max} is not within 1-4094 with min <= max"
            ));
        }
    }
    Ok(())
}

fn apply_mappings(state: &mut Value, wanted: &Value) -> Result<(), String> {
    let Some(wanted) = wanted.as_array() else {
        return Ok(());
    };
    let mut mappings: Vec<Value> = state["ovn"]["bridge-mappings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for m in wanted {
        let localnet = m["localnet"]
            .as_str()
            .ok_or("a bridge mapping has no localnet")?;
        mappings.retain(|old| old["localnet"] != localnet);
        if m["state"] == "absent" {
            continue;
        }
        let bridge = m["bridge"]
            .as_str()
            .ok_or_else(|| format!("bridge mapping {localnet} has no bridge"))?;
        let is_ovs = state["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["name"] == bridge && i["type"] == "ovs-bridge");
        if !is_ovs {
            return Err(format!("InvalidArgument: bridge mapping {localnet}: {bridge} is not an OVS bridge on this node"));
        }
        mappings.push(json!({"localnet": localnet, "bridge": bridge}));
    }
    state["ovn"]["bridge-mappings"] = Value::Array(mappings);
    Ok(())
}

/// The VLANs a bridge port lets through: `None` when it does not filter (no `vlan` block).
pub fn allowed_vlans(port: &Value) -> Option<Vec<(u64, u64)>> {
    let vlan = &port["vlan"];
    if vlan.is_null() {
        return None;
    }
    let mut ranges = Vec::new();
    if let Some(tag) = vlan["tag"].as_u64() {
        ranges.push((tag, tag));
    }
    for t in vlan["trunk-tags"].as_array().into_iter().flatten() {
        match t["id"].as_u64() {
            Some(id) => ranges.push((id, id)),
            None => ranges.push((
                t["id-range"]["min"].as_u64().unwrap_or(1),
                t["id-range"]["max"].as_u64().unwrap_or(0),
            )),
        }
    }
    Some(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Value {
        json!({"interfaces": [
            {"name": "eth0", "type": "ethernet", "state": "up"},
            {"name": "eth1", "type": "ethernet", "state": "up"},
            {"name": "br-ex", "type": "ovs-bridge", "state": "up", "bridge": {"port": [{"name": "eth0"}]}}],
            "ovn": {"bridge-mappings": [{"localnet": "physnet", "bridge": "br-ex"}]}})
    }

    fn trunk_bridge(port: &str, tags: Value) -> Value {
        json!({"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up", "ipv4": {"enabled": false},
            "bridge": {"options": {"stp": {"enabled": false}}, "port": [{"name": port, "vlan": {"mode": "trunk", "trunk-tags": tags}}]}}]})
    }

    #[test]
    fn a_linux_bridge_with_a_trunk_is_added_and_absent_removes_it() {
        let desired = trunk_bridge(
            "eth1",
            json!([{"id": 101}, {"id-range": {"min": 200, "max": 500}}]),
        );
        let state = apply(&node(), &desired).unwrap();
        let br1 = state["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "br1")
            .unwrap()
            .clone();
        assert_eq!(
            allowed_vlans(&br1["bridge"]["port"][0]),
            Some(vec![(101, 101), (200, 500)])
        );
        let gone = apply(
            &state,
            &json!({"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "absent"}]}),
        )
        .unwrap();
        assert_eq!(gone["interfaces"], node()["interfaces"]);
    }

    #[test]
    fn a_missing_port_or_a_bad_vlan_range_is_refused() {
        let err = apply(&node(), &trunk_bridge("eth9", json!([{"id": 10}]))).unwrap_err();
        assert!(err.contains("port eth9 does not exist"), "{err}");
        let err = apply(
            &node(),
            &trunk_bridge("eth1", json!([{"id-range": {"min": 500, "max": 200}}])),
        )
        .unwrap_err();
        assert!(err.contains("range 500-200"), "{err}");
        let err = apply(&node(), &trunk_bridge("eth1", json!([{"id": 4095}]))).unwrap_err();
        assert!(err.contains("4095 is outside 1-4094"), "{err}");
    }

    #[test]
    fn bridge_mappings_need_an_ovs_bridge_and_absent_removes_them() {
        let desired = json!({"interfaces": [{"name": "ovs-br1", "type": "ovs-bridge", "state": "up", "bridge": {"port": [{"name": "eth1"}]}}],
                             "ovn": {"bridge-mappings": [{"localnet": "physnet1", "bridge": "ovs-br1", "state": "present"}]}});
        let state = apply(&node(), &desired).unwrap();
        assert_eq!(
            state["ovn"]["bridge-mappings"][1],
            json!({"localnet": "physnet1", "bridge": "ovs-br1"})
        );
        let removed = apply(
            &state,
            &json!({"ovn": {"bridge-mappings": [{"localnet": "physnet1", "state": "absent"}]}}),
        )
        .unwrap();
        assert_eq!(
            removed["ovn"]["bridge-mappings"].as_array().unwrap().len(),
            1
        );
        let err = apply(
            &node(),
            &json!({"ovn": {"bridge-mappings": [{"localnet": "x", "bridge": "eth1"}]}}),
        )
        .unwrap_err();
        assert!(err.contains("eth1 is not an OVS bridge"), "{err}");
    }
}

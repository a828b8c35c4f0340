//! What nmstate does with a policy's desiredState on one node: merges it into the node's
//! current state, or refuses it with a reason, leaving the node as it was. Interpreted:
//! ethernet, linux-bridge and ovs-bridge interfaces with ports and VLAN filtering
//! (`trunk-tags` with `id` / `id-range`, access `tag`), `state: absent`, and OVN
//! `bridge-mappings` (localnet → OVS bridge).

use serde_json::{json, Value};

const BRIDGES: [&str; 2] = ["linux-bridge", "ovs-bridge"];

/// The node's state after `desired`, or why nmstate refuses it (the node is then left as it
/// was: nmstate rolls its checkpoint back). `patch_ports` are the (bridge, port) pairs OVN
/// keeps on the node's OVS bridges.
pub fn apply(
    current: &Value,
    desired: &Value,
    patch_ports: &[(String, String)],
) -> Result<Value, String> {
    let mut state = with_patch_ports(current, patch_ports);
    let mut interfaces: Vec<Value> = state["interfaces"].as_array().cloned().unwrap_or_default();
    for wanted in desired["interfaces"].as_array().into_iter().flatten() {
        let name = wanted["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or("InvalidArgument: an interface has no name")?;
        let at = position(&interfaces, name, wanted["type"].as_str());
        if wanted["state"] == "absent" {
            if let Some(at) = at {
                interfaces.remove(at);
            }
            continue;
        }
        let merged = match at {
            Some(at) => merge(&interfaces[at], wanted, patch_ports)?,
            None => {
                let ty = wanted["type"].as_str().ok_or_else(|| {
                    format!("InvalidArgument: interface {name} is new and has no type")
                })?;
                merge(
                    &json!({"name": name, "type": ty, "state": "up"}),
                    wanted,
                    patch_ports,
                )?
            }
        };
        if wanted["type"] == "linux-bridge" {
            for port in merged["bridge"]["port"].as_array().into_iter().flatten() {
                super::vlan::sanitize(&port["vlan"])?;
            }
        }
        match at {
            Some(at) => interfaces[at] = merged,
            None => interfaces.push(merged),
        }
    }
    resolve_ports(&mut interfaces)?;
    let controllers: Vec<String> = desired["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["state"] != "absent")
        .filter_map(|i| i["name"].as_str().map(String::from))
        .collect();
    super::ports::settle(&mut interfaces, &controllers);
    state["interfaces"] = Value::Array(interfaces);
    apply_mappings(&mut state, &desired["ovn"]["bridge-mappings"])?;
    Ok(state)
}

/// Where interface `name` is: an OVS bridge and its internal interface share a name, so the
/// entry of the wanted type when there is one, else the first of that name.
fn position(interfaces: &[Value], name: &str, ty: Option<&str>) -> Option<usize> {
    let named = |i: &Value| i["name"] == name;
    ty.and_then(|ty| interfaces.iter().position(|i| named(i) && i["type"] == ty))
        .or_else(|| interfaces.iter().position(named))
}

/// kubernetes-nmstate's default VLAN filtering, as the enactment's desired state shows it.
pub fn with_default_vlan_filtering(desired: &Value) -> Value {
    super::vlan::with_default_filtering(desired)
}

/// The state with OVN's patch ports on their bridges (as `nmstatectl show` lists them).
fn with_patch_ports(current: &Value, patch_ports: &[(String, String)]) -> Value {
    let mut state = current.clone();
    let Some(interfaces) = state["interfaces"].as_array_mut() else {
        return state;
    };
    for (bridge, port) in patch_ports {
        let Some(at) = interfaces.iter().position(|i| i["name"] == *bridge) else {
            continue;
        };
        let ports = &mut interfaces[at]["bridge"]["port"];
        if !ports.is_array() {
            *ports = json!([]);
        }
        let ports = ports.as_array_mut().expect("just made an array");
        if !ports.iter().any(|p| p["name"] == *port) {
            ports.push(json!({"name": port}));
        }
        if !interfaces.iter().any(|i| i["name"] == *port) {
            interfaces.push(json!({"name": port, "type": "ovs-interface", "state": "up",
                "patch": {"peer": peer(port)}}));
        }
    }
    state
}

/// The br-int end of patch port `patch-<localnet port>-to-br-int`.
fn peer(port: &str) -> String {
    let localnet_port = port
        .trim_start_matches("patch-")
        .trim_end_matches("-to-br-int");
    format!("patch-br-int-to-{localnet_port}")
}

/// nmstate merges a partial interface description into the existing one.
fn merge(
    current: &Value,
    wanted: &Value,
    patch_ports: &[(String, String)],
) -> Result<Value, String> {
    let mut out = current.clone();
    json_patch::merge(&mut out, wanted);
    // Lists are replaced, not merged: the port list says the whole truth.
    if let Some(ports) = wanted["bridge"]["port"].as_array() {
        out["bridge"]["port"] = Value::Array(ports.clone());
        if wanted["type"] == "ovs-bridge" || current["type"] == "ovs-bridge" {
            keep_patch_ports(&mut out, current, wanted, patch_ports)?;
        }
    }
    Ok(out)
}

/// OVN's patch ports on an OVS bridge whose port list a policy sets. With
/// `allow-extra-patch-ports: true` nmstate leaves them out of the change; without it nmstate
/// detaches them, ovn-controller plugs them back at once, and verification finds the extra
/// ports. The option is not kept in the state.
/// nmstate rust/src/lib/ifaces/ovs.rs process_allow_extra_ovs_patch_ports_for_apply,
/// query_apply/ovs.rs process_allow_extra_ovs_patch_ports_for_verify, query_apply/iface.rs
/// verify, v2.2.37.
fn keep_patch_ports(
    out: &mut Value,
    current: &Value,
    wanted: &Value,
    patch_ports: &[(String, String)],
) -> Result<(), String> {
    let name = out["name"].as_str().unwrap_or("").to_string();
    let allowed = wanted["bridge"]["allow-extra-patch-ports"] == true;
    if let Some(bridge) = out["bridge"].as_object_mut() {
        bridge.remove("allow-extra-patch-ports");
    }
    let listed = |port: &str| {
        out["bridge"]["port"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == port)
    };
    let extra: Vec<Value> = current["bridge"]["port"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            patch_ports
                .iter()
                .any(|(b, port)| *b == name && p["name"] == port.as_str())
        })
        .filter(|p| !listed(p["name"].as_str().unwrap_or("")))
        .cloned()
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    let desired_ports = out["bridge"]["port"].clone();
    let ports = out["bridge"]["port"]
        .as_array_mut()
        .expect("set from the policy");
    ports.extend(extra);
    if allowed {
        return Ok(());
    }
    Err(format!(
        "VerificationError: Verification failure: {name}.interface.bridge.port desire '{desired_ports}', current '{}'",
        out["bridge"]["port"]
    ))
}

/// Every port of a bridge must be an interface of the node: an OVS bridge's unknown port
/// becomes an OVS internal interface, a Linux bridge's is refused.
/// nmstate rust/src/lib/ifaces/inter_ifaces_controller.rs handle_changed_ports, v2.2.37.
fn resolve_ports(interfaces: &mut Vec<Value>) -> Result<(), String> {
    let mut internal = Vec::new();
    for bridge in interfaces
        .iter()
        .filter(|i| BRIDGES.contains(&i["type"].as_str().unwrap_or("")))
    {
        let name = bridge["name"].as_str().unwrap_or("");
        for port in bridge["bridge"]["port"].as_array().into_iter().flatten() {
            let port_name = port["name"].as_str().unwrap_or("");
            // Any interface of that name but the bridge itself (an OVS bridge's internal
            // port shares its name).
            let exists = interfaces.iter().any(|i| {
                i["name"] == port_name && !(i["name"] == name && i["type"] == bridge["type"])
            });
            if exists {
                continue;
            }
            if bridge["type"] == "ovs-bridge" {
                internal.push(json!({"name": port_name, "type": "ovs-interface", "state": "up"}));
                continue;
            }
            return Err(format!(
                "InvalidArgument: Controller interface {name} is holding unknown port {port_name}"
            ));
        }
    }
    interfaces.extend(internal);
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

    fn apply(current: &Value, desired: &Value) -> Result<Value, String> {
        super::apply(current, desired, &[])
    }

    fn node() -> Value {
        json!({"interfaces": [
            {"name": "eth0", "type": "ethernet", "state": "up", "controller": "br-ex"},
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
        assert!(
            err.contains("Controller interface br1 is holding unknown port eth9"),
            "{err}"
        );
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

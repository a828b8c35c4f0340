//! Multus and the CNI plugins behind a NetworkAttachmentDefinition: which L2 segment a pod
//! interface joins on a given node, or the sandbox error that keeps the pod from starting.
//!
//! A segment is a physical network and a VLAN, written `phys:<nic>/vlan:<id>`: every node's
//! NIC of the same name is cabled to the same switch. Traffic that cannot leave the node (a
//! bridge without an uplink, a VLAN its uplink port filters out, a localnet without a bridge
//! mapping) stays on a node-local segment.

use serde_json::Value;

use crate::controllers::nmstate::desired::allowed_vlans;
use crate::kinds;
use crate::store::Store;

/// The segment the interface for NAD `ns/name` joins on `node`.
pub fn segment(store: &Store, nad: &str, node: &str) -> Result<String, String> {
    let (ns, name) = nad.split_once('/').unwrap_or(("default", nad));
    let object = store.get(kinds::NADS, ns, name).ok_or_else(|| {
        format!("Multus: failed to get network-attachment-definition {ns}/{name}: network-attachment-definitions.k8s.cni.cncf.io \"{name}\" not found")
    })?;
    let text = object["spec"]["config"].as_str().unwrap_or("");
    let config: Value = serde_json::from_str(text)
        .map_err(|e| format!("Multus: NAD {ns}/{name} has an invalid CNI config: {e}"))?;
    let plugin = config["type"].as_str().unwrap_or("");
    let failed = |why: String| {
        format!(
            "plugin type=\"{plugin}\" name=\"{}\" failed (add): {why}",
            config["name"].as_str().unwrap_or(name)
        )
    };
    let state = store
        .get(kinds::NNSS, "", node)
        .map(|s| s["status"]["currentState"].clone())
        .unwrap_or(Value::Null);
    match plugin {
        "bridge" => bridge(&config, &state, node).map_err(failed),
        "ovn-k8s-cni-overlay" => {
            localnet(&config, &format!("{ns}/{name}"), &state, node).map_err(failed)
        }
        other => Err(failed(format!(
            "vstp-sim does not model CNI plugin {other:?}"
        ))),
    }
}

/// containernetworking/plugins (v1.9.1) plugins/main/bridge/bridge.go `cmdAdd`: `loadNetConf`
/// checks the VLAN (a `vlan` with a `vlanTrunk` is the trunk's native VLAN since v1.8.0), and
/// `setupBridge` / `ensureBridge` creates the bridge when the node has none of that name (a
/// bridge without ports: the segment stays on the node), and fails when the name is taken by
/// another kind of link (`bridgeByName`).
fn bridge(config: &Value, state: &Value, node: &str) -> Result<String, String> {
    let name = config["bridge"].as_str().unwrap_or("cni0");
    let vlan = match &config["vlan"] {
        Value::Null => 0,
        v => v
            .as_u64()
            .filter(|v| *v <= 4094)
            .ok_or_else(|| format!("invalid VLAN ID {v} (must be between 0 and 4094)"))?,
    };
    let local = || format!("node:{node}/bridge:{name}/vlan:{vlan}");
    match interfaces(state).find(|i| i["name"] == name) {
        None => Ok(local()),
        Some(link) if link["type"] == "linux-bridge" => {
            Ok(uplink_segment(link, vlan, state).unwrap_or_else(local))
        }
        Some(_) => Err(format!(
            "failed to create bridge \"{name}\": \"{name}\" already exists but is not a bridge"
        )),
    }
}

fn localnet(config: &Value, nad: &str, state: &Value, node: &str) -> Result<String, String> {
    if config["topology"] != "localnet" {
        return Err(format!(
            "topology {} is not modelled for secondary networks",
            config["topology"]
        ));
    }
    if config["netAttachDefName"].as_str() != Some(nad) {
        return Err(format!(
            "netAttachDefName {} does not match the NAD {nad}",
            config["netAttachDefName"]
        ));
    }
    let physnet = config["physicalNetworkName"]
        .as_str()
        .or(config["name"].as_str())
        .unwrap_or("");
    let vlan = config["vlanID"].as_u64().unwrap_or(0);
    let mapping = state["ovn"]["bridge-mappings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["localnet"] == physnet);
    let bridge = mapping.and_then(|m| interfaces(state).find(|i| i["name"] == m["bridge"]));
    Ok(bridge
        .and_then(|b| uplink_segment(b, vlan, state))
        .unwrap_or_else(|| format!("node:{node}/localnet:{physnet}/vlan:{vlan}")))
}

fn interfaces(state: &Value) -> impl Iterator<Item = &Value> {
    state["interfaces"].as_array().into_iter().flatten()
}

/// The physical segment behind `bridge` for `vlan`: its ethernet port, if that port lets the
/// VLAN through (untagged traffic passes only an unfiltered port).
fn uplink_segment(bridge: &Value, vlan: u64, state: &Value) -> Option<String> {
    bridge["bridge"]["port"]
        .as_array()?
        .iter()
        .find_map(|port| {
            let nic = port["name"].as_str()?;
            let ethernet = interfaces(state).any(|i| i["name"] == nic && i["type"] == "ethernet");
            let passes = match allowed_vlans(port) {
                None => true,
                Some(ranges) => {
                    vlan != 0 && ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&vlan))
                }
            };
            (ethernet && passes).then(|| format!("phys:{nic}/vlan:{vlan}"))
        })
}

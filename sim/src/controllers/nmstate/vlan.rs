//! nmstate's checks of a Linux bridge port's VLAN filtering in a desired state, with its
//! messages, and kubernetes-nmstate's default filtering for ports that set none.

use std::collections::HashMap;

use serde_json::{json, Value};

/// Why nmstate refuses the VLAN filtering `vlan` of a desired Linux bridge port.
/// nmstate rust/src/lib/ifaces/bridge_vlan.rs BridgePortVlanConfig::sanitize (is_desired)
/// and validate_overlap_trunk_tags, v2.2.37.
pub fn sanitize(vlan: &Value) -> Result<(), String> {
    if vlan.is_null() {
        return Ok(());
    }
    let invalid = |msg: String| Err(format!("InvalidArgument: {msg}"));
    let (mode, tag) = (vlan["mode"].as_str(), vlan["tag"].as_u64());
    let native = vlan["enable-native"] == true;
    if mode == Some("trunk") && tag.is_some_and(|t| t != 0) && !native {
        return invalid(
            "Bridge VLAN filtering `tag` cannot be use in trunk mode without `enable-native`"
                .into(),
        );
    }
    if mode == Some("access") && native {
        return invalid(
            "Bridge VLAN filtering `enable-native: true` cannot be set in access mode".into(),
        );
    }
    let tags = vlan["trunk-tags"].as_array();
    if mode == Some("access") && tags.is_some_and(|t| !t.is_empty()) {
        return invalid("Bridge VLAN filtering access mode cannot have trunk-tags defined".into());
    }
    if mode == Some("trunk") && tags.is_none() {
        return invalid("Bridge VLAN filtering trunk mode cannot have empty trunk-tags".into());
    }
    let tags = tags.map(Vec::as_slice).unwrap_or_default();
    vlan_ids(vlan, tags)?;
    overlap(tags).map_or(Ok(()), invalid)
}

/// A trunk tag as nmstate prints it (BridgePortTrunkTag's Display).
fn shown(tag: &Value) -> String {
    match tag["id"].as_u64() {
        Some(id) => format!("id={id}"),
        None => format!(
            "id-range=[{},{}]",
            tag["id-range"]["min"], tag["id-range"]["max"]
        ),
    }
}

/// The first trunk tag that repeats a VLAN of an earlier one, as nmstate words it.
fn overlap(tags: &[Value]) -> Option<String> {
    let mut found: HashMap<u64, String> = HashMap::new();
    for tag in tags {
        let (min, max) = match tag["id"].as_u64() {
            Some(id) => (id, id),
            None => (
                tag["id-range"]["min"].as_u64().unwrap_or(1),
                tag["id-range"]["max"].as_u64().unwrap_or(0),
            ),
        };
        for id in min..=max {
            if let Some(existing) = found.get(&id) {
                return Some(format!(
                    "Bridge VLAN trunk tag {} is overlapping with other tag {existing}",
                    shown(tag)
                ));
            }
            found.insert(id, shown(tag));
        }
    }
    None
}

/// VLAN IDs must be 1-4094 with min <= max: what NetworkManager accepts for a bridge port
/// VLAN (libnm nm_bridge_vlan_new), reported through nmstate as its plugin's failure.
fn vlan_ids(vlan: &Value, tags: &[Value]) -> Result<(), String> {
    let valid = |id: &Value| id.as_u64().is_some_and(|id| (1..=4094).contains(&id));
    let refuse = |what: String| Err(format!("NmClientError: invalid bridge port VLAN: {what}"));
    if !vlan["tag"].is_null() && vlan["tag"] != 0 && !valid(&vlan["tag"]) {
        return refuse(format!("VLAN tag {} is outside 1-4094", vlan["tag"]));
    }
    for tag in tags {
        if !tag["id"].is_null() {
            if !valid(&tag["id"]) {
                return refuse(format!("trunk VLAN id {} is outside 1-4094", tag["id"]));
            }
            continue;
        }
        let (min, max) = (&tag["id-range"]["min"], &tag["id-range"]["max"]);
        if !valid(min) || !valid(max) || min.as_u64() > max.as_u64() {
            return refuse(format!(
                "trunk VLAN range {min}-{max} is not within 1-4094 with min <= max"
            ));
        }
    }
    Ok(())
}

/// The desired state with a trunk of VLANs 2-4094 on every port of an up Linux bridge that
/// sets no VLAN filtering. kubernetes-nmstate pkg/bridge/bridge.go ApplyDefaultVlanFiltering.
pub fn with_default_filtering(desired: &Value) -> Value {
    let mut out = desired.clone();
    for iface in out["interfaces"].as_array_mut().into_iter().flatten() {
        if iface["type"] != "linux-bridge" || iface["state"] != "up" {
            continue;
        }
        for port in iface["bridge"]["port"].as_array_mut().into_iter().flatten() {
            if port.get("vlan").is_none() {
                port["vlan"] =
                    json!({"mode": "trunk", "trunk-tags": [{"id-range": {"min": 2, "max": 4094}}]});
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmstate_refuses_inconsistent_port_vlans_with_its_words() {
        let refused = |v: Value| sanitize(&v).unwrap_err();
        assert!(
            refused(json!({"mode": "trunk"})).ends_with("trunk mode cannot have empty trunk-tags")
        );
        assert!(
            refused(json!({"mode": "trunk", "tag": 5, "trunk-tags": [{"id": 7}]}))
                .contains("`tag` cannot be use in trunk mode without `enable-native`")
        );
        assert!(
            refused(json!({"mode": "access", "tag": 5, "trunk-tags": [{"id": 7}]}))
                .contains("access mode cannot have trunk-tags defined")
        );
        assert!(
            refused(json!({"mode": "access", "tag": 5, "enable-native": true}))
                .contains("`enable-native: true` cannot be set in access mode")
        );
        assert_eq!(
            refused(json!({"mode": "trunk", "trunk-tags": [{"id-range": {"min": 20, "max": 30}}, {"id": 25}]})),
            "InvalidArgument: Bridge VLAN trunk tag id=25 is overlapping with other tag id-range=[20,30]"
        );
        assert!(sanitize(&json!({"mode": "access"})).is_ok());
        assert!(sanitize(
            &json!({"mode": "trunk", "tag": 5, "enable-native": true, "trunk-tags": [{"id": 7}]})
        )
        .is_ok());
    }

    #[test]
    fn an_unfiltered_port_of_an_up_linux_bridge_gets_the_default_trunk() {
        let desired = json!({"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up",
            "bridge": {"port": [{"name": "eth1"}, {"name": "eth2", "vlan": {}}]}}]});
        let out = with_default_filtering(&desired);
        let ports = &out["interfaces"][0]["bridge"]["port"];
        assert_eq!(ports[0]["vlan"]["trunk-tags"][0]["id-range"]["max"], 4094);
        assert_eq!(ports[1]["vlan"], json!({}));
    }
}

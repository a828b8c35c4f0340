//! Node network policies and NetworkAttachmentDefinitions from named options.

use serde_json::{json, Value};

use super::bases;

/// A VLAN trunk of a bridge port: single IDs and ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trunk {
    Id(u16),
    Range(u16, u16),
}

/// An NNCP: a Linux bridge on `nic` trunking `vlans`, on every worker.
pub fn trunk_bridge(policy: &str, bridge: &str, nic: &str, vlans: &[Trunk]) -> Value {
    let tags: Vec<Value> = vlans
        .iter()
        .map(|t| match t {
            Trunk::Id(id) => json!({"id": id}),
            Trunk::Range(min, max) => json!({"id-range": {"min": min, "max": max}}),
        })
        .collect();
    nncp(
        policy,
        json!({"interfaces": [{"name": bridge, "type": "linux-bridge", "state": "up",
            "ipv4": {"enabled": false},
            "bridge": {"options": {"stp": {"enabled": false}},
                "port": [{"name": nic, "vlan": {"mode": "trunk", "trunk-tags": tags}}]}}]}),
    )
}

/// An NNCP: an OVS bridge on `nic` mapped to the OVN physical network `localnet`. OVN plugs
/// its patch ports into the bridge; `allow-extra-patch-ports` keeps nmstate from detaching
/// them, which would fail verification when the policy is applied again (nmstate
/// rust/src/lib/ifaces/ovs.rs OvsBridgeConfig::allow_extra_patch_ports).
pub fn ovs_bridge_mapping(policy: &str, bridge: &str, nic: &str, localnet: &str) -> Value {
    nncp(
        policy,
        json!({"interfaces": [{"name": bridge, "type": "ovs-bridge", "state": "up",
            "bridge": {"allow-extra-patch-ports": true, "options": {"stp": {"enabled": false}},
                "port": [{"name": nic}]}}],
            "ovn": {"bridge-mappings": [{"localnet": localnet, "bridge": bridge, "state": "present"}]}}),
    )
}

/// A policy with `desired`, applied to one selected node at a time (kubernetes-nmstate
/// api/shared NodeNetworkConfigurationPolicySpec.MaxUnavailable; the default is 50%), so a
/// bad state cannot cut several nodes off at once.
fn nncp(name: &str, desired: Value) -> Value {
    let mut policy = bases::nncp(name);
    policy["spec"]["desiredState"] = desired;
    policy["spec"]["maxUnavailable"] = json!(1);
    policy
}

/// A bridge CNI NAD on `bridge` with access VLAN `vlan` (VLAN 1 dropped, MAC spoof check on).
pub fn bridge_nad(name: &str, bridge: &str, vlan: u16) -> Value {
    nad(
        name,
        json!({"cniVersion": "0.3.1", "name": name, "type": "bridge", "bridge": bridge,
            "vlan": vlan, "preserveDefaultVlan": false, "macspoofchk": true}),
    )
}

/// An OVN-Kubernetes localnet NAD of namespace `ns` on physical network `localnet`, VLAN
/// `vlan`. OVN-K requires `netAttachDefName` to be `<ns>/<name>`.
pub fn localnet_nad(ns: &str, name: &str, localnet: &str, vlan: u16) -> Value {
    nad(
        name,
        json!({"cniVersion": "1.0.0", "name": format!("{localnet}-{vlan}"),
            "type": "ovn-k8s-cni-overlay", "topology": "localnet",
            "physicalNetworkName": localnet, "vlanID": vlan,
            "netAttachDefName": format!("{ns}/{name}")}),
    )
}

fn nad(name: &str, config: Value) -> Value {
    let mut nad = bases::nad(name);
    nad["spec"]["config"] = json!(config.to_string());
    nad
}

/// A namespaced primary layer-2 UserDefinedNetwork with persistent IPAM.
pub fn primary_udn(name: &str, subnets: &[impl AsRef<str>]) -> Value {
    let mut udn = bases::udn(name);
    let subnets: Vec<&str> = subnets.iter().map(AsRef::as_ref).collect();
    udn["spec"]["layer2"]["subnets"] = json!(subnets);
    udn
}

/// A primary layer-2 ClusterUserDefinedNetwork for the namespaces labelled `key=value`.
pub fn primary_cudn(name: &str, key: &str, value: &str, subnets: &[impl AsRef<str>]) -> Value {
    let mut cudn = bases::cudn(name);
    let subnets: Vec<&str> = subnets.iter().map(AsRef::as_ref).collect();
    cudn["spec"]["namespaceSelector"]["matchLabels"] = json!({key: value});
    cudn["spec"]["network"]["layer2"]["subnets"] = json!(subnets);
    cudn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trunk_lists_ids_and_ranges_on_the_nic_port() {
        let p = trunk_bridge(
            "br1-trunk",
            "br1",
            "eth1",
            &[Trunk::Id(10), Trunk::Range(20, 30)],
        );
        let port = &p["spec"]["desiredState"]["interfaces"][0]["bridge"]["port"][0];
        assert_eq!(port["name"], "eth1");
        assert_eq!(port["vlan"]["trunk-tags"][0]["id"], 10);
        assert_eq!(port["vlan"]["trunk-tags"][1]["id-range"]["max"], 30);
    }

    #[test]
    fn udns_carry_their_subnets_and_a_cudn_its_namespace_selector() {
        let udn = primary_udn("tenant", &["10.100.0.0/16"]);
        assert_eq!(udn["spec"]["layer2"]["subnets"][0], "10.100.0.0/16");
        assert_eq!(udn["spec"]["layer2"]["ipam"]["lifecycle"], "Persistent");
        let cudn = primary_cudn("shared", "vstp.io/run-id", "r1", &["10.101.0.0/16"]);
        assert_eq!(
            cudn["spec"]["namespaceSelector"]["matchLabels"]["vstp.io/run-id"],
            "r1"
        );
        assert_eq!(cudn["spec"]["network"]["layer2"]["role"], "Primary");
    }

    #[test]
    fn nad_configs_are_json_text_with_the_fields_cni_reads() {
        let n = bridge_nad("vlan10", "br1", 10);
        let config: Value = serde_json::from_str(n["spec"]["config"].as_str().unwrap()).unwrap();
        assert_eq!(
            (config["vlan"].as_u64(), config["bridge"].as_str()),
            (Some(10), Some("br1"))
        );
        let l = localnet_nad("ns1", "ln10", "tenantnet", 10);
        let config: Value = serde_json::from_str(l["spec"]["config"].as_str().unwrap()).unwrap();
        assert_eq!(config["netAttachDefName"], "ns1/ln10");
    }
}

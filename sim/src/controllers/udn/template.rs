//! The NetworkAttachmentDefinition OVN-Kubernetes' user-defined-network controller renders for a
//! UDN or a CUDN in one namespace: ovn-kubernetes (master)
//! go-controller/pkg/clustermanager/userdefinednetwork/template/net-attach-def-template.go
//! `RenderNetAttachDefManifest` and `renderCNINetworkConfig`.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::obj;

pub const FINALIZER: &str = "k8s.ovn.org/user-defined-network-protection";
pub const LABEL: &str = "k8s.ovn.org/user-defined-network";
const PLUGIN: &str = "ovn-k8s-cni-overlay";
/// go-controller/pkg/config/cni.go `CNISpecVersion`.
const CNI_VERSION: &str = "1.1.0";
/// go-controller/pkg/types/const.go `UserDefinedPrimaryNetworkJoinSubnetV4/V6`.
const JOIN_SUBNETS: [&str; 2] = ["100.65.0.0/16", "fd99::/64"];
/// go-controller/pkg/config/config.go `ClusterManager.V4TransitSubnet` / `V6TransitSubnet`.
const TRANSIT_V4: &str = "100.88.0.0/16";
const TRANSIT_V6: &str = "fd97::/64";
/// `[default] mtu` of the ovnkube.conf the cluster runs with (world/ovnk.rs).
const DEFAULT_MTU: u64 = 1400;

/// Which custom resource a NAD is rendered for.
#[derive(Clone, Copy)]
pub enum Owner {
    Udn,
    Cudn,
}

impl Owner {
    fn kind(self) -> &'static str {
        match self {
            Owner::Udn => "UserDefinedNetwork",
            Owner::Cudn => "ClusterUserDefinedNetwork",
        }
    }

    /// The network's spec (topology and its block).
    pub fn spec(self, object: &Value) -> &Value {
        match self {
            Owner::Udn => &object["spec"],
            Owner::Cudn => &object["spec"]["network"],
        }
    }

    /// go-controller/pkg/util/multi_network.go `GenerateUDNNetworkName` /
    /// `GenerateCUDNNetworkName`.
    pub fn network_name(self, object: &Value, ns: &str) -> String {
        match self {
            Owner::Udn => format!("{ns}_{}", obj::name(object)),
            Owner::Cudn => format!("cluster_udn_{}", obj::name(object)),
        }
    }
}

/// The topology's block of a network spec.
pub fn block(spec: &Value) -> &Value {
    match spec["topology"].as_str() {
        Some("Layer3") => &spec["layer3"],
        Some("Localnet") => &spec["localnet"],
        _ => &spec["layer2"],
    }
}

/// `utiludn.IsPrimaryNetwork`: the block's role is Primary.
pub fn is_primary(spec: &Value) -> bool {
    block(spec)["role"] == "Primary"
}

/// `RenderNetAttachDefManifest`: the NAD for `owner` in namespace `ns`, or the controller's
/// error (wrapped as `updateNAD` wraps it).
pub fn render(
    owner: Owner,
    object: &Value,
    ns: &str,
    preconfigured: bool,
) -> Result<Value, String> {
    let name = obj::name(object);
    let network = owner.network_name(object, ns);
    let config = cni_config(
        owner.spec(object),
        &network,
        &format!("{ns}/{name}"),
        preconfigured,
    )
    .map_err(|e| format!("failed to generate NetworkAttachmentDefinition: {e}"))?;
    let mut labels = Map::new();
    labels.insert(LABEL.into(), json!(""));
    labels.extend(obj::labels(object));
    let mut nad = json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": ns, "labels": labels, "finalizers": [FINALIZER],
                     "ownerReferences": [{"apiVersion": "k8s.ovn.org/v1", "kind": owner.kind(), "name": name,
                                          "uid": obj::uid(object), "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"config": config.to_string()}});
    // `renderNADAnnotations`: the owner's annotations but OVN-K's own.
    let annotations: Map<String, Value> = object["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with("k8s.ovn.org/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !annotations.is_empty() {
        nad["metadata"]["annotations"] = Value::Object(annotations);
    }
    Ok(nad)
}

/// `renderNADSpec` / `renderCNINetworkConfig`: the CNI config, with only the fields upstream
/// writes (serde_json's map sorts its keys as Go's `json.Marshal` of a map does).
fn cni_config(
    spec: &Value,
    network: &str,
    nad: &str,
    preconfigured: bool,
) -> Result<Value, String> {
    let topology = spec["topology"].as_str().unwrap_or("");
    let b = block(spec);
    if !matches!(topology, "Layer2" | "Layer3" | "Localnet") || b.is_null() {
        return Err(format!(
            "invalid topology specified: topology {topology} is specified but {topology} config is nil"
        ));
    }
    let role = b["role"].as_str().unwrap_or("");
    let mut config = json!({"cniVersion": CNI_VERSION, "type": PLUGIN, "name": network,
        "netAttachDefName": nad, "topology": topology.to_lowercase(), "role": role.to_lowercase()});
    let fail = |e: &str| format!("failed to render CNI network config: {e}");
    let primary = role == "Primary";
    let mtu = b["mtu"].as_u64().unwrap_or(0);
    match topology {
        "Layer3" => {
            set_nonempty(&mut config, "subnets", layer3_subnets(&b["subnets"]));
            set_mtu(&mut config, mtu);
        }
        "Layer2" => {
            let ipam_enabled = matches!(
                b["ipam"]["mode"].as_str(),
                None | Some("") | Some("Enabled")
            );
            let persistent = b["ipam"]["lifecycle"] == "Persistent";
            let subnets = cidrs(&b["subnets"]);
            if persistent && !ipam_enabled {
                return Err(fail(
                    "lifecycle Persistent is only supported when ipam.mode is Enabled",
                ));
            }
            if ipam_enabled && subnets.is_empty() {
                return Err(fail(
                    "subnets is required with ipam.mode is Enabled or unset",
                ));
            }
            if !ipam_enabled && !subnets.is_empty() {
                return Err(fail("subnets must be unset when ipam.mode is Disabled"));
            }
            set_mtu(&mut config, mtu);
            if primary {
                config["transitSubnet"] = json!(transit_subnets(&subnets));
            }
            set_nonempty(&mut config, "subnets", subnets);
            if persistent {
                config["allowPersistentIPs"] = json!(true);
            }
            if preconfigured {
                set_nonempty(&mut config, "reservedSubnets", cidrs(&b["reservedSubnets"]));
                set_nonempty(
                    &mut config,
                    "infrastructureSubnets",
                    cidrs(&b["infrastructureSubnets"]),
                );
                set_nonempty(
                    &mut config,
                    "defaultGatewayIPs",
                    cidrs(&b["defaultGatewayIPs"]),
                );
            }
        }
        _ => {
            // `localnetMTU`: the underlay is not the SDN, so no overlay overhead.
            set_mtu(&mut config, if mtu > 0 { mtu } else { DEFAULT_MTU + 100 });
            set_nonempty(&mut config, "subnets", cidrs(&b["subnets"]));
            set_nonempty(&mut config, "excludeSubnets", cidrs(&b["excludeSubnets"]));
            if b["ipam"]["lifecycle"] == "Persistent" {
                config["allowPersistentIPs"] = json!(true);
            }
            if let Some(physnet) = b["physicalNetworkName"].as_str().filter(|p| !p.is_empty()) {
                config["physicalNetworkName"] = json!(physnet);
            }
            if let Some(vlan) = b["vlan"]["access"]["id"].as_u64().filter(|v| *v != 0) {
                config["vlanID"] = json!(vlan);
            }
        }
    }
    if primary && topology != "Localnet" {
        // `renderJoinSubnets`: the defaults unless the network names its own.
        let join = cidrs(&b["joinSubnets"]);
        config["joinSubnet"] = json!(if join.is_empty() {
            JOIN_SUBNETS.join(",")
        } else {
            join
        });
    }
    Ok(config)
}

fn set_mtu(config: &mut Value, mtu: u64) {
    if mtu > 0 {
        config["mtu"] = json!(mtu);
    }
}

fn set_nonempty(config: &mut Value, key: &str, value: String) {
    if !value.is_empty() {
        config[key] = json!(value);
    }
}

/// `cidrString`: the list joined with commas.
fn cidrs(list: &Value) -> String {
    let items: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    items.join(",")
}

/// `layer3SubnetsString`: `cidr/hostSubnet` when the host subnet is set.
fn layer3_subnets(list: &Value) -> String {
    let items: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let cidr = s["cidr"].as_str()?;
            Some(match s["hostSubnet"].as_u64().filter(|h| *h > 0) {
                Some(host) => format!("{cidr}/{host}"),
                None => cidr.to_string(),
            })
        })
        .collect();
    items.join(",")
}

/// go-controller/pkg/util/multi_network.go `SetTransitSubnets` / `getTransitSubnet`: the default
/// transit subnet of each subnet's family, moved past a subnet it overlaps.
fn transit_subnets(subnets: &str) -> String {
    let parsed: Vec<(IpAddr, u8)> = subnets
        .split(',')
        .filter_map(crate::guest::cloudinit::cidr)
        .collect();
    let transit: Vec<String> = parsed
        .iter()
        .map(|(ip, _)| {
            let default = if ip.is_ipv4() { TRANSIT_V4 } else { TRANSIT_V6 };
            clear_of(default, &parsed)
        })
        .collect();
    transit.join(",")
}

/// `getFirstNonOverlappingSubnet` for IPv4: the first subnet of the transit's size after the
/// larger of the two that overlap (IPv6 keeps the default: the sim's networks never overlap it).
fn clear_of(transit: &str, subnets: &[(IpAddr, u8)]) -> String {
    let Some((IpAddr::V4(mut base), len)) = crate::guest::cloudinit::cidr(transit) else {
        return transit.to_string();
    };
    for _ in 0..10 {
        let overlapping = subnets.iter().find_map(|(ip, l)| match ip {
            IpAddr::V4(ip) => {
                let shortest = (*l).min(len);
                let mask = u32::MAX.checked_shl(32 - shortest as u32).unwrap_or(0);
                (u32::from(*ip) & mask == u32::from(base) & mask)
                    .then_some((u32::from(*ip) & mask, shortest))
            }
            IpAddr::V6(_) => None,
        });
        let Some((start, shortest)) = overlapping else {
            return format!("{base}/{len}");
        };
        let size = 1u64 << (32 - shortest as u32);
        base = ((start as u64 + size) as u32).into();
    }
    format!("{base}/{len}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udn(spec: Value) -> Value {
        json!({"metadata": {"name": "net", "namespace": "ns1", "uid": "u1"}, "spec": spec})
    }

    fn config(nad: &Value) -> Value {
        serde_json::from_str(nad["spec"]["config"].as_str().unwrap()).unwrap()
    }

    #[test]
    fn a_primary_layer2_network_gets_join_and_transit_subnets_and_no_mtu_unless_set() {
        let spec = json!({"topology": "Layer2", "layer2": {"role": "Primary",
            "subnets": ["10.100.0.0/16", "fd00:10::/64"], "ipam": {"lifecycle": "Persistent"}}});
        let nad = render(Owner::Udn, &udn(spec), "ns1", true).unwrap();
        assert_eq!(
            config(&nad),
            json!({"cniVersion": "1.1.0", "type": "ovn-k8s-cni-overlay", "name": "ns1_net",
                "netAttachDefName": "ns1/net", "topology": "layer2", "role": "primary",
                "subnets": "10.100.0.0/16,fd00:10::/64", "allowPersistentIPs": true,
                "joinSubnet": "100.65.0.0/16,fd99::/64", "transitSubnet": "100.88.0.0/16,fd97::/64"})
        );
        assert_eq!(nad["metadata"]["labels"][LABEL], "");
    }

    #[test]
    fn a_secondary_localnet_gets_the_underlay_mtu_and_its_vlan() {
        let spec = json!({"topology": "Localnet", "localnet": {"role": "Secondary",
            "physicalNetworkName": "physnet", "vlan": {"mode": "Access", "access": {"id": 20}}}});
        let c = config(&render(Owner::Udn, &udn(spec), "ns1", true).unwrap());
        assert_eq!(
            (c["mtu"].as_u64(), c["vlanID"].as_u64()),
            (Some(1500), Some(20))
        );
        assert!(c["joinSubnet"].is_null() && c["allowPersistentIPs"].is_null());
    }

    #[test]
    fn a_transit_subnet_moves_past_a_network_it_overlaps() {
        assert_eq!(transit_subnets("100.64.0.0/10"), "100.128.0.0/16");
    }

    #[test]
    fn layer2_ipam_errors_are_upstreams() {
        let spec = json!({"topology": "Layer2", "layer2": {"role": "Primary", "ipam": {"mode": "Disabled", "lifecycle": "Persistent"}}});
        assert_eq!(
            render(Owner::Udn, &udn(spec), "ns1", true).unwrap_err(),
            "failed to generate NetworkAttachmentDefinition: failed to render CNI network config: lifecycle Persistent is only supported when ipam.mode is Enabled"
        );
    }
}

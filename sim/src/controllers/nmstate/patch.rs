//! The OVS patch ports ovn-controller keeps on a bridge mapped to a localnet: nmstate sees
//! them on the node but no policy lists them.

use serde_json::Value;

use crate::controllers::Ctx;
use crate::kinds;

/// (bridge, patch port) for every localnet network whose physical network the node maps to
/// an OVS bridge. The port is named as ovn-controller names it,
/// `patch-<localnet port>-to-br-int` (ovn-kubernetes go-controller/pkg/node/bridgeconfig/
/// bridgeconfig.go, openflow_manager.go localnetPortInfo), the localnet port being
/// `<network prefix>ovn_localnet_port` (pkg/ovn/localnet_user_defined_network_controller.go,
/// util/multi_network.go GetUserDefinedNetworkPrefix). Modelled from the moment the localnet
/// NAD exists, on every node that maps its physical network.
pub fn ovn_patch_ports(ctx: &Ctx, state: &Value) -> Vec<(String, String)> {
    let mappings: Vec<&Value> = state["ovn"]["bridge-mappings"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut ports = Vec::new();
    for nad in ctx.list(kinds::NADS, None) {
        let Some(config) = nad["spec"]["config"]
            .as_str()
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
        else {
            continue;
        };
        if config["type"] != "ovn-k8s-cni-overlay" || config["topology"] != "localnet" {
            continue;
        }
        let net = config["name"].as_str().unwrap_or("");
        let physnet = config["physicalNetworkName"].as_str().unwrap_or(net);
        let Some(bridge) = mappings
            .iter()
            .find(|m| m["localnet"] == physnet)
            .and_then(|m| m["bridge"].as_str())
        else {
            continue;
        };
        let prefix = net.replace(['-', '/'], ".");
        let port = format!("patch-{prefix}_ovn_localnet_port-to-br-int");
        if !ports.iter().any(|(_, p)| *p == port) {
            ports.push((bridge.to_string(), port));
        }
    }
    ports
}

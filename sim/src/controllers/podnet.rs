//! What the pod network is for a VMI's launcher pod: the cluster network, or its namespace's
//! primary user-defined network with the VM's allocated address; and where traffic leaving
//! the cluster from that pod is translated to.

use serde_json::Value;

use super::{launcher, Ctx};
use crate::kinds;
use crate::obj;

/// The pod network of `vmi` whose launcher pod `pod` has cluster IP `pod_ip`: its namespace's
/// primary UDN (with the VM's claimed address) or the cluster network.
pub fn pod_network(ctx: &Ctx, vmi: &Value, pod: &str, pod_ip: &str) -> launcher::PodNetwork {
    let egress = egress_of(ctx, obj::namespace(vmi), pod);
    let Some((network, config)) = super::udn::primary_network(ctx, obj::namespace(vmi)) else {
        return launcher::PodNetwork {
            ip: pod_ip.to_string(),
            segment: crate::world::fabric::POD_SEGMENT.to_string(),
            bridged: None,
            udn_nad: None,
            egress,
        };
    };
    let claimed = super::udn::claim_address(ctx, vmi, &network, &config, pod);
    let bridged = launcher::interfaces(vmi).iter().any(|i| {
        let binding = i["binding"]["name"].as_str();
        matches!(binding, Some("l2bridge" | "passt")) || i["passtBinding"].is_object()
    });
    launcher::PodNetwork {
        ip: claimed.map_or(pod_ip.to_string(), |(ip, _)| ip.to_string()),
        segment: format!("udn:{network}"),
        bridged: claimed.filter(|_| bridged),
        udn_nad: config["netAttachDefName"].as_str().map(String::from),
        egress,
    }
}

/// The address traffic from launcher pod `pod` leaves the cluster with: its node's, which
/// the gateway router SNATs the pod network's (and a primary UDN's) subnets to (ovn-kubernetes
/// go-controller/pkg/ovn/gateway.go `GatewayManager.updateGWRouterNAT`).
fn egress_of(ctx: &Ctx, ns: &str, pod: &str) -> Option<std::net::IpAddr> {
    let launcher = ctx.get(kinds::PODS, ns, pod)?;
    let node = obj::str_at(&launcher, "/spec/nodeName");
    crate::world::nodes::address(&ctx.store, node).parse().ok()
}

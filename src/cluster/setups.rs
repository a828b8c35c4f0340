//! Network set-ups several scenarios start from, each built from the typed builders and torn
//! down with the scenario's scope: two VLANs bridged on every worker, two localnet VLANs on an
//! OVS bridge mapping, and an IP subnet of the scenario's own.

use std::net::IpAddr;

use serde_json::Value;

use super::budget::Wait;
use super::build::{self, Trunk};
use super::kinds;
use super::nmstate;
use super::profile::Profile;
use super::scope::Scope;

/// An IPv4 /24 and an IPv6 /64 no other scenario of the run uses, so scenarios sharing a
/// physical network cannot answer each other's probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet(pub u8);

impl Subnet {
    pub fn v4(&self, host: u8) -> IpAddr {
        IpAddr::from([10, 200, self.0, host])
    }

    pub fn v6(&self, host: u8) -> IpAddr {
        IpAddr::from([
            0xfd00,
            0x200,
            u16::from(self.0),
            0,
            0,
            0,
            0,
            u16::from(host),
        ])
    }

    /// Both addresses of `host` in CIDR form, for cloud-init.
    pub fn cidrs(&self, host: u8) -> [String; 2] {
        [
            format!("{}/24", self.v4(host)),
            format!("{}/64", self.v6(host)),
        ]
    }

    /// Both addresses of `host`: what a probe checks for each IP family.
    pub fn addresses(&self, host: u8) -> [IpAddr; 2] {
        [self.v4(host), self.v6(host)]
    }
}

/// Two VLANs reachable from every worker, each behind a NAD of the scenario's namespace.
#[derive(Debug, Clone)]
pub struct TwoVlans {
    pub vlans: [u16; 2],
    /// NAD names, in the order of `vlans`.
    pub nads: [String; 2],
}

/// A Linux bridge on the profile's bridge NIC trunking both VLANs, and a bridge CNI NAD per
/// VLAN. Waits until every worker applied the bridge.
pub async fn bridged_vlans(scope: &Scope, profile: &Profile) -> anyhow::Result<TwoVlans> {
    let [a, b] = profile.vlans;
    let bridge = "br-vstp";
    let policy = build::trunk_bridge(
        &scope.cluster_name("vstp-trunk"),
        bridge,
        &profile.bridge_nic,
        &[Trunk::Id(a), Trunk::Id(b)],
    );
    apply_policy(scope, policy).await?;
    let nads = [format!("vlan{a}"), format!("vlan{b}")];
    for (nad, vlan) in nads.iter().zip([a, b]) {
        scope
            .create(kinds::NAD, build::bridge_nad(nad, bridge, vlan))
            .await?;
    }
    Ok(TwoVlans {
        vlans: [a, b],
        nads,
    })
}

/// An OVS bridge on the profile's localnet NIC mapped to a physical network, and a localnet
/// NAD per VLAN.
pub async fn localnet_vlans(scope: &Scope, profile: &Profile) -> anyhow::Result<TwoVlans> {
    let [a, b] = profile.vlans;
    let localnet = "vstpnet";
    let policy = build::ovs_bridge_mapping(
        &scope.cluster_name("vstp-localnet"),
        "ovs-vstp",
        &profile.localnet_nic,
        localnet,
    );
    apply_policy(scope, policy).await?;
    let nads = [format!("localnet{a}"), format!("localnet{b}")];
    for (nad, vlan) in nads.iter().zip([a, b]) {
        let object = build::localnet_nad(scope.ns(), nad, localnet, vlan);
        scope.create(kinds::NAD, object).await?;
    }
    Ok(TwoVlans {
        vlans: [a, b],
        nads,
    })
}

/// Creates a node network policy and waits until it is Available on every node it selects.
pub async fn apply_policy(scope: &Scope, policy: Value) -> anyhow::Result<Value> {
    let created = scope.create(kinds::NNCP, policy).await?;
    let name = created["metadata"]["name"].as_str().unwrap_or("");
    let since = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("");
    nmstate::settled_after(
        scope.client(),
        name,
        since,
        scope.budgets.of(Wait::NodeNetwork),
    )
    .await
}

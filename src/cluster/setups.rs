//! Network set-ups several scenarios start from, each built from the typed builders and torn
//! down with the scenario's scope: two VLANs bridged on the usable nodes with the NIC, two
//! localnet VLANs on an OVS bridge mapping, and an IP subnet of the scenario's own.

use std::net::IpAddr;

use serde_json::{json, Value};

use super::budget::Wait;
use super::build::{self, Trunk};
use super::kinds;
use super::nmstate;
use super::profile::{Families, Profile};
use super::scope::Scope;
use super::usable;

/// An IPv4 /24 and an IPv6 /64 no other scenario of the run uses, so scenarios sharing a
/// physical network cannot answer each other's probes; only the profile's IP families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub index: u8,
    pub v4_prefix: [u8; 2],
    pub v6_prefix: [u16; 2],
    pub families: Families,
}

impl Subnet {
    /// The `index`th scenario subnet of `profile`.
    pub fn of(profile: &Profile, index: u8) -> Subnet {
        Subnet {
            index,
            v4_prefix: profile.ipv4_prefix,
            v6_prefix: profile.ipv6_prefix,
            families: profile.families,
        }
    }

    pub fn v4(&self, host: u8) -> IpAddr {
        let [a, b] = self.v4_prefix;
        IpAddr::from([a, b, self.index, host])
    }

    pub fn v6(&self, host: u8) -> IpAddr {
        let [a, b] = self.v6_prefix;
        IpAddr::from([a, b, u16::from(self.index), 0, 0, 0, 0, u16::from(host)])
    }

    /// The addresses of `host`, one per family: what a probe checks.
    pub fn addresses(&self, host: u8) -> Vec<IpAddr> {
        let mut all = Vec::new();
        if self.families.v4 {
            all.push(self.v4(host));
        }
        if self.families.v6 {
            all.push(self.v6(host));
        }
        all
    }

    /// The addresses of `host` in CIDR form, for cloud-init.
    pub fn cidrs(&self, host: u8) -> Vec<String> {
        self.addresses(host)
            .into_iter()
            .map(|a| format!("{a}/{}", if a.is_ipv4() { 24 } else { 64 }))
            .collect()
    }
}

/// The Linux bridge the bridged set-up builds on the bridge NIC.
pub const TRUNK_BRIDGE: &str = "br-vstp";
/// The OVS bridge the localnet set-up builds on the localnet NIC.
pub const LOCALNET_BRIDGE: &str = "ovs-vstp";

/// Two VLANs reachable from the usable nodes that have the NIC, each behind a NAD of the
/// scenario's namespace.
#[derive(Debug, Clone)]
pub struct TwoVlans {
    pub vlans: [u16; 2],
    /// NAD names, in the order of `vlans`.
    pub nads: [String; 2],
    /// The nodes that carry the VLANs: a VM on them must stay on them (`VmSpec::on_nodes`).
    pub nodes: Vec<String>,
}

/// A Linux bridge on the profile's bridge NIC trunking both VLANs, and a bridge CNI NAD per
/// VLAN. Waits until every usable node with the NIC applied the bridge.
pub async fn bridged_vlans(scope: &Scope, profile: &Profile) -> anyhow::Result<TwoVlans> {
    let [a, b] = profile.vlans;
    let bridge = TRUNK_BRIDGE;
    let policy = build::trunk_bridge(
        &scope.cluster_name("vstp-trunk"),
        bridge,
        &profile.bridge_nic,
        &[Trunk::Id(a), Trunk::Id(b)],
    );
    let nodes = apply_on_nodes_with(scope, policy, &profile.bridge_nic).await?;
    let nads = [format!("vlan{a}"), format!("vlan{b}")];
    for (nad, vlan) in nads.iter().zip([a, b]) {
        scope
            .create(kinds::NAD, build::bridge_nad(nad, bridge, vlan))
            .await?;
    }
    Ok(TwoVlans {
        vlans: [a, b],
        nads,
        nodes,
    })
}

/// An OVS bridge on the profile's localnet NIC mapped to a physical network, and a localnet
/// NAD per VLAN.
pub async fn localnet_vlans(scope: &Scope, profile: &Profile) -> anyhow::Result<TwoVlans> {
    let [a, b] = profile.vlans;
    let localnet = "vstpnet";
    let policy = build::ovs_bridge_mapping(
        &scope.cluster_name("vstp-localnet"),
        LOCALNET_BRIDGE,
        &profile.localnet_nic,
        localnet,
    );
    let nodes = apply_on_nodes_with(scope, policy, &profile.localnet_nic).await?;
    let nads = [format!("localnet{a}"), format!("localnet{b}")];
    for (nad, vlan) in nads.iter().zip([a, b]) {
        let object = build::localnet_nad(scope.ns(), nad, localnet, vlan);
        scope.create(kinds::NAD, object).await?;
    }
    Ok(TwoVlans {
        vlans: [a, b],
        nads,
        nodes,
    })
}

/// The usable nodes a set-up needs at least: a VM and a peer on another node.
const NODES_PER_SETUP: usize = 2;

/// Applies `policy` to each usable node where `nic` is safe to take (`usable::with_nic`),
/// one copy per node aimed by its `kubernetes.io/hostname` label, one node after the other,
/// each copy Available before the next is created. Returns the nodes.
///
/// An NNCP selects nodes by a label map only, so a set of nodes is either a label the harness
/// puts on them or one policy per node. Per node leaves the user's nodes untouched (nothing
/// to remove in teardown or after a killed run beyond the policies the sweeper already
/// finds), and a node the selection leaves out (NotReady, tainted, without the NIC, or whose
/// NIC is unsafe) is never asked to enact anything. A policy's `maxUnavailable` only paces
/// the nodes that one policy selects (kubernetes-nmstate
/// controllers/handler/nodenetworkconfigurationpolicy_controller.go Reconcile counts the
/// policy's own unavailable enactments), so across the per-node copies the pacing is this
/// order: a copy that fails stops the set-up before it reaches another node.
pub async fn apply_on_nodes_with(
    scope: &Scope,
    policy: Value,
    nic: &str,
) -> anyhow::Result<Vec<String>> {
    let own = declared_interfaces(&policy);
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    let selection = usable::with_nic(scope.client(), nic, &own).await?;
    let base = policy["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let purpose = format!("NNCP {base} (NIC {nic})");
    let nodes = selection.at_least(NODES_PER_SETUP, &purpose)?;
    for (i, node) in nodes.iter().enumerate() {
        let mut copy = policy.clone();
        copy["metadata"]["name"] = json!(format!("{base}-{i}"));
        copy["spec"]["nodeSelector"] = json!({"kubernetes.io/hostname": node.hostname});
        apply_policy(scope, copy).await?;
    }
    Ok(nodes.iter().map(|n| n.name.clone()).collect())
}

/// The interfaces `policy`'s desired state names: the bridges it builds.
fn declared_interfaces(policy: &Value) -> Vec<String> {
    policy["spec"]["desiredState"]["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str().map(String::from))
        .collect()
}

/// Creates a node network policy and waits until it is Available on every node it selects.
pub async fn apply_policy(scope: &Scope, policy: Value) -> anyhow::Result<Value> {
    let created = scope.create(kinds::NNCP, policy).await?;
    let name = created["metadata"]["name"].as_str().unwrap_or("");
    let since = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("");
    nmstate::settled_after(scope.client(), name, since, scope.budget(Wait::NodeNetwork)).await
}

/// The subnet of a scenario's primary UDN. Each scenario has its own network in its own
/// namespace, so they may overlap; it must not overlap the cluster and service networks
/// (10.128.0.0/14 and 172.30.0.0/16 on OpenShift).
pub const UDN_SUBNET: &str = "10.100.0.0/16";

/// A primary layer-2 UDN with persistent IPAM in the scope's namespace (which must have been
/// opened as [`super::NamespaceKind::PrimaryUdn`]); waits until OVN-K created its network.
pub async fn primary_udn(scope: &Scope, name: &str) -> anyhow::Result<Value> {
    scope
        .create(kinds::UDN, build::primary_udn(name, &[UDN_SUBNET]))
        .await?;
    super::wait::Watch::object(scope.client(), kinds::UDN, scope.ns(), name)
        .until_object(
            &format!("UDN {name} to report NetworkCreated"),
            scope.budget(Wait::Reaction),
            |u| super::wait::condition::status_of(u, "NetworkCreated") == Some("True"),
        )
        .await
        .map_err(Into::into)
}

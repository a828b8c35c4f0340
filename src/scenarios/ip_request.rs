//! stps/sig-network/ip-request.md — an IPv4 address an integration tool asks for, on the
//! primary layer2 UDN.
//!
//! The tool asks twice, as upstream needs it: the VM template's `network.kubevirt.io/addresses`
//! is what reaches IPAM (ipam-extensions' pod webhook → OVN-Kubernetes' allocator → the
//! IPAMClaim), and cloud-init network data (or DHCP, which OVN serves with the allocated
//! address) is what the guest configures. Nothing in the cluster reads the cloud-init text, so
//! every row checks both sides and traffic, which OVN's port security lets through only from
//! the allocated address.

use std::net::IpAddr;
use std::sync::Arc;

use super::primary_udn_migration::{
    address, assert_guest_has, claim_holding, on_primary_udn, UDN_INTERFACE,
};
use super::scenario::{Attach, Scenario};
use crate::cluster::build::Nic;
use crate::cluster::nodes;
use crate::cluster::scope::Scope;
use crate::ctx::Ctx;
use crate::guest::os::GuestOs;
use crate::plan::{row, Declaration, Feature, ManualRow, Needs};
use crate::vm::Vm;

const STP: &str = "sig-network/ip-request.md";
const IDS: &[&str] = &["CNV-67524"];

const fn ip_row(n: usize, slug: &'static str) -> Declaration {
    row(STP, n, slug)
        .ids(IDS)
        .row_ids_are_jira()
        .needs(Needs::migration(&[
            Feature::PrimaryUdn,
            Feature::RequestedUdnAddress,
        ]))
}

pub fn scenarios() -> Vec<Scenario> {
    vec![
        ip_row(1, "east-west").body(east_west),
        ip_row(2, "north-south").body(north_south),
        ip_row(3, "kept-over-migration").body(kept_over_migration),
        ip_row(4, "kept-over-stop-start").body(kept_over_stop_start),
        ip_row(6, "given-by-dhcp").body(given_by_dhcp),
    ]
}

/// Row 5 stays manual.
pub const MANUAL: ManualRow = ManualRow {
    stp: STP,
    row: 5,
    row_ids: IDS,
    reason: "needs an upgrade of OpenShift and OpenShift Virtualization between two releases \
             (hours, and both releases' payloads); vstp has no upgrade driver and its simulator \
             models no upgrade. By hand: start a VM asking for an address before the upgrade, \
             check its VMI status, IPAMClaim, guest and a peer's traffic after it. What keeps \
             the address, the IPAMClaim surviving new launcher pods, rows 3 and 4 automate",
};

/// The address the VMs ask for, inside the UDN's subnet (setups::UDN_SUBNET), and its prefix.
const REQUESTED: &str = "10.100.0.200";
const PREFIX: u8 = 16;
/// The UDN's gateway, the subnet's first address (OVN-K's layer2 default gateway).
const GATEWAY: &str = "10.100.0.1";

/// Row 1: the VM has the address it asked for, in the VMI status, the IPAMClaim and the guest,
/// and a peer VM on the network reaches it there.
async fn east_west(ctx: Ctx) -> anyhow::Result<()> {
    let scope = on_primary_udn(&ctx).await?;
    let (vm, peer) = futures::try_join!(
        requesting(&ctx, &scope, "vm-a", Guest::CloudInit),
        plain(&ctx, &scope, "peer")
    )?;
    let wanted = has_requested_address(&ctx, &vm).await?;
    reach_each_other(&ctx, &vm, &peer, wanted).await
}

/// Row 2: the VM with its requested address reaches a host outside the cluster, which sees
/// the address of the VM's node (egress SNAT), not the guest's.
async fn north_south(ctx: Ctx) -> anyhow::Result<()> {
    let scope = on_primary_udn(&ctx).await?;
    let vm = requesting(&ctx, &scope, "vm-a", Guest::CloudInit).await?;
    has_requested_address(&ctx, &vm).await?;
    reaches_outside(&ctx, &scope, &vm).await
}

/// Row 3: after a live migration the address, the claim and the traffic to a peer and to the
/// outside are as before, and nothing a live migration must keep broke.
async fn kept_over_migration(ctx: Ctx) -> anyhow::Result<()> {
    let scope = on_primary_udn(&ctx).await?;
    let (vm, peer) = futures::try_join!(
        requesting(&ctx, &scope, "vm-a", Guest::CloudInit),
        plain(&ctx, &scope, "peer")
    )?;
    let wanted = has_requested_address(&ctx, &vm).await?;
    reach_each_other(&ctx, &vm, &peer, wanted).await?;
    let claim = claim_holding(&vm, wanted).await?;
    let before = vm.capture().await?;
    ctx.step("migrate vm-a");
    let migrated = vm.migrate().await?;
    ctx.step(format!("{migrated} succeeded"));
    let after = migrated.vmi.ip_of(UDN_INTERFACE);
    anyhow::ensure!(
        after == Some(wanted),
        "vm-a had {wanted} before the migration and {after:?} after"
    );
    assert_guest_has(&vm, wanted).await?;
    let kept = claim_holding(&vm, wanted).await?;
    anyhow::ensure!(
        kept.uid == claim.uid,
        "the IPAMClaim of vm-a was replaced across the migration (uid {} before, {} after)",
        claim.uid,
        kept.uid
    );
    before.assert_preserved(&vm.guest, &migrated.vmi).await?;
    reach_each_other(&ctx, &vm, &peer, wanted).await?;
    reaches_outside(&ctx, &scope, &vm).await
}

/// Row 4: while the VM is stopped its IPAMClaim keeps the address reserved; started again, the
/// new VMI and the new boot of the guest have it, and a peer reaches it.
async fn kept_over_stop_start(ctx: Ctx) -> anyhow::Result<()> {
    let scope = on_primary_udn(&ctx).await?;
    let (mut vm, peer) = futures::try_join!(
        requesting(&ctx, &scope, "vm-a", Guest::CloudInit),
        plain(&ctx, &scope, "peer")
    )?;
    let wanted = has_requested_address(&ctx, &vm).await?;
    let claim = claim_holding(&vm, wanted).await?;
    ctx.step("stop vm-a");
    vm.stop().await?;
    let reserved = claim_holding(&vm, wanted)
        .await
        .map_err(|e| e.context("while vm-a is stopped its address must stay reserved"))?;
    anyhow::ensure!(
        reserved.uid == claim.uid,
        "the IPAMClaim of vm-a was replaced while it was stopped (uid {} before, {} now)",
        claim.uid,
        reserved.uid
    );
    ctx.step(format!(
        "stopped; IPAMClaim {} still holds {wanted}",
        claim.uid
    ));
    ctx.step("start vm-a again");
    vm.start_again().await?;
    ctx.step(format!(
        "vm-a runs again as VMI {}",
        vm.booted().metadata.uid
    ));
    has_requested_address(&ctx, &vm).await?;
    reach_each_other(&ctx, &vm, &peer, wanted).await
}

/// Row 6: a guest left on DHCP gets the requested address from OVN's DHCP, and a peer
/// reaches it there.
async fn given_by_dhcp(ctx: Ctx) -> anyhow::Result<()> {
    let scope = on_primary_udn(&ctx).await?;
    let (vm, peer) = futures::try_join!(
        requesting(&ctx, &scope, "vm-a", Guest::Dhcp),
        plain(&ctx, &scope, "peer")
    )?;
    let wanted = has_requested_address(&ctx, &vm).await?;
    reach_each_other(&ctx, &vm, &peer, wanted).await
}

/// How the guest gets the requested address.
#[derive(Clone, Copy)]
enum Guest {
    /// cloud-init configures it statically, with the UDN's gateway as default route.
    CloudInit,
    /// cloud-init puts the NIC on DHCPv4; OVN answers with the allocated address.
    Dhcp,
}

/// A RHEL VM on the primary UDN that asks IPAM for [`REQUESTED`] and gets it into its guest
/// as `guest` says.
async fn requesting(ctx: &Ctx, scope: &Arc<Scope>, name: &str, guest: Guest) -> anyhow::Result<Vm> {
    let wanted: IpAddr = REQUESTED.parse()?;
    let nic = match guest {
        Guest::CloudInit => Nic::primary_udn()
            .with_addresses(&[format!("{REQUESTED}/{PREFIX}")])
            .with_gateway(GATEWAY.parse()?),
        Guest::Dhcp => Nic::primary_udn().on_dhcp(),
    };
    let how = match guest {
        Guest::CloudInit => "configured by cloud-init",
        Guest::Dhcp => "left to DHCP",
    };
    ctx.step(format!(
        "{name} asks for {REQUESTED} (network.kubevirt.io/addresses), {how}"
    ));
    let spec = ctx.vm(name, GuestOs::Rhel).await?.with_pod_nic(nic);
    ctx.start(scope, &spec.requesting_addresses(&[wanted]))
        .await
}

/// A RHEL VM on the primary UDN with whatever address IPAM gives it.
async fn plain(ctx: &Ctx, scope: &Arc<Scope>, name: &str) -> anyhow::Result<Vm> {
    let spec = ctx
        .vm(name, GuestOs::Rhel)
        .await?
        .with_pod_nic(Nic::primary_udn());
    ctx.start(scope, &spec).await
}

/// The VM has [`REQUESTED`] where the cluster keeps it (VMI status, IPAMClaim) and in the guest.
async fn has_requested_address(ctx: &Ctx, vm: &Vm) -> anyhow::Result<IpAddr> {
    let wanted: IpAddr = REQUESTED.parse()?;
    let got = address(&vm.vmi().await?)?;
    anyhow::ensure!(
        got == wanted,
        "{} asked for {wanted} and was allocated {got}: the requested address was not honoured",
        vm.name()
    );
    claim_holding(vm, wanted).await?;
    assert_guest_has(vm, wanted).await?;
    ctx.step(format!(
        "{} has {wanted} in its VMI status, IPAMClaim and guest",
        vm.name()
    ));
    Ok(wanted)
}

/// The peer reaches `vm` at `wanted` and `vm` reaches the peer (echo requests, from inside).
async fn reach_each_other(ctx: &Ctx, vm: &Vm, peer: &Vm, wanted: IpAddr) -> anyhow::Result<()> {
    let budget = vm.budget(crate::cluster::budget::Wait::Reaction);
    let peer_ip = address(&peer.vmi().await?)?;
    peer.guest
        .assert_reaches(wanted, budget)
        .await
        .map_err(|e| e.context(format!("connectivity broken: {} to {wanted}", peer.name())))?;
    vm.guest
        .assert_reaches(peer_ip, budget)
        .await
        .map_err(|e| e.context(format!("connectivity broken: {} to {peer_ip}", vm.name())))?;
    ctx.step(format!(
        "{} and {} ({peer_ip}) reach each other",
        vm.name(),
        peer.name()
    ));
    Ok(())
}

/// `vm` reaches the external host, which sees the address of the node the VM runs on.
async fn reaches_outside(ctx: &Ctx, scope: &Scope, vm: &Vm) -> anyhow::Result<()> {
    let service = ctx.target().await?.profile.external_host;
    let node = vm.vmi().await?.node().to_string();
    let node_ip = nodes::internal_ip(scope.client(), &node).await?;
    let seen = vm.guest.source_seen_by(service).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "connectivity broken: {} cannot reach the external host {service} (is \
             network.external_host a host the nodes reach?)",
            vm.name()
        )
    })?;
    ctx.step(format!(
        "the external host {service} sees {} as {seen}",
        vm.name()
    ));
    anyhow::ensure!(
        seen == node_ip,
        "the external host sees {} as {seen}, expected its node {node}'s address {node_ip} \
         (egress from a primary UDN is translated to the node's address)",
        vm.name()
    );
    Ok(())
}

//! stps/sig-network/primary-udn-migration.md — live migration over a primary layer2 UDN.
//!
//! Every row starts from a namespace labelled for a primary user-defined network and a layer-2
//! UDN with persistent IPAM; VMs join it through the pod network with the l2bridge binding.

use std::net::IpAddr;
use std::sync::Arc;

use super::scenario::{Attach, Scenario};
use crate::cluster::build::{Nic, VmSpec};
use crate::cluster::scope::{NamespaceKind, Scope};
use crate::cluster::setups;
use crate::ctx::Ctx;
use crate::guest::os::GuestOs;
use crate::plan::{row, Declaration, Feature, Needs};
use crate::vm::{Invariants, IpamClaim, Vm, Vmi};

const STP: &str = "sig-network/primary-udn-migration.md";

const fn udn_row(n: usize, id: &'static [&'static str], slug: &'static str) -> Declaration {
    row(STP, n, slug)
        .ids(id)
        .needs(Needs::migration(&[Feature::PrimaryUdn]))
}

pub fn scenarios() -> Vec<Scenario> {
    vec![
        udn_row(1, &["CNV-11674"], "ip-kept-across-migration").body(ip_kept_across_migration),
        udn_row(2, &["CNV-11427"], "tcp-connection-survives-migration")
            .body(tcp_connection_survives_migration),
        udn_row(3, &["VSTP-201"], "east-west-without-nat").body(east_west_without_nat),
        udn_row(4, &["VSTP-202"], "requested-ip-used")
            .needs(Needs::migration(&[
                Feature::PrimaryUdn,
                Feature::RequestedUdnAddress,
            ]))
            .body(requested_ip_used),
    ]
}

/// The port the server VM listens on.
const PORT: u16 = 9000;
/// The address row 4 asks for, inside the UDN's subnet.
const REQUESTED_IP: &str = "10.100.0.200";
/// The UDN interface of a VM in the VMI status: the pod network's.
pub(super) const UDN_INTERFACE: &str = "default";
/// The launcher pod's interface for a primary UDN (ovn-kubernetes cniserver.go
/// `getPrimaryUDNPodRequest`), which KubeVirt reports as the pod network's `podInterfaceName`.
const UDN_POD_INTERFACE: &str = "ovn-udn1";

/// Row 1: the address in the VMI status and in the guest is the same before and after a
/// live migration.
async fn ip_kept_across_migration(ctx: Ctx) -> anyhow::Result<()> {
    let scope = on_primary_udn(&ctx).await?;
    let vm = start(&ctx, &scope, "vm-a", |vm| vm).await?;
    let ip = address(vm.booted())?;
    ctx.step(format!("vm-a has {ip} on the UDN"));
    assert_guest_has(&vm, ip).await?;
    let before = vm.capture().await?;
    migrate_keeping(&ctx, &vm, ip, &before).await
}

/// Row 2: a TCP connection from one VM to another survives a migration of the client.
async fn tcp_connection_survives_migration(ctx: Ctx) -> anyhow::Result<()> {
    let scope = on_primary_udn(&ctx).await?;
    let (server, client) = connected_pair(&ctx, &scope).await?;
    let server_ip = address(server.booted())?;
    let connection = client.guest.connection_to(server_ip, PORT).await?;
    ctx.step(format!(
        "connection {} → {} established",
        connection.0, connection.1
    ));
    let before = client.capture().await?;
    migrate_keeping(&ctx, &client, address(client.booted())?, &before).await?;
    let after = client.guest.connection_to(server_ip, PORT).await?;
    anyhow::ensure!(
        after == connection,
        "the connection changed across the migration: {connection:?} before, {after:?} after"
    );
    let server_side = server.guest.established().await?;
    anyhow::ensure!(
        server_side.contains(&(connection.1, connection.0)),
        "the server no longer holds the connection {connection:?}: it has {server_side:?}"
    );
    Ok(())
}

/// Row 3: the server sees the client VM's own address as the source (no NAT).
async fn east_west_without_nat(ctx: Ctx) -> anyhow::Result<()> {
    let scope = on_primary_udn(&ctx).await?;
    let (server, client) = connected_pair(&ctx, &scope).await?;
    let client_ip = address(client.booted())?;
    let established = server.guest.established().await?;
    let peers: Vec<IpAddr> = established
        .iter()
        .filter(|(local, _)| local.port() == PORT)
        .map(|(_, peer)| peer.ip())
        .collect();
    ctx.step(format!("the server sees connections from {peers:?}"));
    anyhow::ensure!(
        peers == [client_ip],
        "the server sees {peers:?} as the source, expected the client's own {client_ip}"
    );
    Ok(())
}

/// Row 4: an address asked for with `network.kubevirt.io/addresses` is the one the VMI and the
/// guest use, also after a migration.
async fn requested_ip_used(ctx: Ctx) -> anyhow::Result<()> {
    let scope = on_primary_udn(&ctx).await?;
    let wanted: IpAddr = REQUESTED_IP.parse()?;
    let vm = start(&ctx, &scope, "vm-a", |vm| {
        vm.requesting_addresses(&[wanted])
    })
    .await?;
    let ip = address(vm.booted())?;
    anyhow::ensure!(ip == wanted, "vm-a got {ip}, it asked for {wanted}");
    assert_guest_has(&vm, ip).await?;
    let before = vm.capture().await?;
    migrate_keeping(&ctx, &vm, wanted, &before).await
}

/// The scenario's namespace, labelled for a primary UDN, with its UDN.
pub(super) async fn on_primary_udn(ctx: &Ctx) -> anyhow::Result<Arc<Scope>> {
    let scope = ctx.scope(NamespaceKind::PrimaryUdn).await?;
    ctx.step(format!("primary layer2 UDN on {}", setups::UDN_SUBNET));
    setups::primary_udn(&scope, "tenant").await?;
    Ok(scope)
}

/// A RHEL VM on the namespace's primary UDN (pod network, l2bridge binding).
async fn start(
    ctx: &Ctx,
    scope: &Arc<Scope>,
    name: &str,
    shape: impl FnOnce(VmSpec) -> VmSpec,
) -> anyhow::Result<Vm> {
    let vm = ctx
        .vm(name, GuestOs::Rhel)
        .await?
        .with_pod_nic(Nic::primary_udn());
    ctx.start(scope, &shape(vm)).await
}

/// A server listening on [`PORT`] and a client holding a connection to it.
async fn connected_pair(ctx: &Ctx, scope: &Arc<Scope>) -> anyhow::Result<(Vm, Vm)> {
    let (server, client) = futures::try_join!(
        start(ctx, scope, "server", |vm| vm),
        start(ctx, scope, "client", |vm| vm)
    )?;
    server.guest.listen(PORT).await?;
    let server_ip = address(server.booted())?;
    client.guest.hold_connection(server_ip, PORT).await?;
    ctx.step(format!("client connected to {server_ip}:{PORT}"));
    Ok((server, client))
}

/// The VM's address on the UDN, as its VMI status reports it: the pod network is the one
/// OVN-K adds for the primary UDN (pod interface `ovn-udn1`, not the cluster network's `eth0`)
/// and the address is in the UDN's subnet.
pub(super) fn address(vmi: &Vmi) -> anyhow::Result<IpAddr> {
    let name = vmi.name();
    let pod_iface = vmi
        .interface(UDN_INTERFACE)
        .and_then(|i| i.pod_interface_name.as_deref());
    anyhow::ensure!(
        pod_iface == Some(UDN_POD_INTERFACE),
        "the VMI status of {name} puts {UDN_INTERFACE} on pod interface {pod_iface:?}, expected \
         {UDN_POD_INTERFACE:?} (the primary UDN's); is the namespace labelled {}?",
        crate::cluster::scope::PRIMARY_UDN_LABEL
    );
    let ip = vmi
        .ip_of(UDN_INTERFACE)
        .ok_or_else(|| anyhow::anyhow!("the VMI status of {name} reports no address"))?;
    anyhow::ensure!(
        in_subnet(ip, setups::UDN_SUBNET),
        "{name} reports {ip}, outside the UDN's subnet {}",
        setups::UDN_SUBNET
    );
    Ok(ip)
}

/// Whether IPv4 `ip` is in `cidr` (`a.b.c.d/len`).
fn in_subnet(ip: IpAddr, cidr: &str) -> bool {
    let parsed = cidr.split_once('/').and_then(|(net, len)| {
        Some((
            net.parse::<std::net::Ipv4Addr>().ok()?,
            len.parse::<u32>().ok()?,
        ))
    });
    match (ip, parsed) {
        (IpAddr::V4(ip), Some((net, len))) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        _ => false,
    }
}

pub(super) async fn assert_guest_has(vm: &Vm, ip: IpAddr) -> anyhow::Result<()> {
    let interfaces = vm.guest.interfaces().await?;
    anyhow::ensure!(
        interfaces
            .iter()
            .any(|i| i.addresses.iter().any(|(a, _)| *a == ip)),
        "the guest of {} does not have {ip}: {interfaces:?}",
        vm.name()
    );
    Ok(())
}

/// Migrates `vm`; afterwards the VMI status and the guest still have `ip` and nothing a
/// live migration must keep broke.
async fn migrate_keeping(
    ctx: &Ctx,
    vm: &Vm,
    ip: IpAddr,
    before: &Invariants,
) -> anyhow::Result<()> {
    let claim = claim_holding(vm, ip).await?;
    ctx.step(format!("migrate {}", vm.name()));
    let migrated = vm.migrate().await?;
    ctx.step(format!("{migrated} succeeded"));
    let after = migrated.vmi.ip_of(UDN_INTERFACE);
    anyhow::ensure!(
        after == Some(ip),
        "{} had {ip} before the migration and {after:?} after",
        vm.name()
    );
    assert_guest_has(vm, ip).await?;
    let kept = claim_holding(vm, ip).await?;
    anyhow::ensure!(
        kept.uid == claim.uid,
        "the IPAMClaim of {} was replaced across the migration (uid {} before, {} after): the \
         target pod must reuse the VM's claim",
        vm.name(),
        claim.uid,
        kept.uid
    );
    before.assert_preserved(&vm.guest, &migrated.vmi).await
}

/// The IPAMClaim ipam-extensions made for the VM's pod network (`<vm>.default`, owned by the
/// VM), holding `ip` as OVN-Kubernetes allocated it.
pub(super) async fn claim_holding(vm: &Vm, ip: IpAddr) -> anyhow::Result<IpamClaim> {
    let name = vm.name();
    let claim = vm.ipam_claim(UDN_INTERFACE).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "no IPAMClaim {name}.{UDN_INTERFACE}: are the KubeVirt IPAM extensions installed \
             and the UDN's ipam.lifecycle Persistent?"
        )
    })?;
    let owner = Some(("VirtualMachine".to_string(), name.to_string()));
    anyhow::ensure!(
        claim.owner == owner,
        "the IPAMClaim of {name} is owned by {:?}, expected the VM",
        claim.owner
    );
    let prefix = format!("{ip}/");
    anyhow::ensure!(
        claim.ips.iter().any(|a| a.starts_with(&prefix)),
        "the IPAMClaim of {name} holds {:?}, not the VM's {ip}",
        claim.ips
    );
    Ok(claim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_in_the_udn_subnet_only_within_its_prefix() {
        assert!(in_subnet("10.100.0.3".parse().unwrap(), "10.100.0.0/16"));
        assert!(!in_subnet("10.101.0.3".parse().unwrap(), "10.100.0.0/16"));
        assert!(!in_subnet("10.129.0.5".parse().unwrap(), "garbage"));
    }
}

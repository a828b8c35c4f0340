//! stps/sig-network/primary-udn-migration.md — live migration over a primary layer2 UDN.
//!
//! Every row starts from a namespace labelled for a primary user-defined network and a layer-2
//! UDN with persistent IPAM; VMs join it through the pod network with the l2bridge binding.

use std::net::IpAddr;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{automated, declare, Feature, GuestOs, Needs, Scenario};
use crate::cluster::build::{Nic, Vm};
use crate::cluster::vms::{self, Running};
use crate::cluster::{migration, setups, NamespaceKind, Scope};
use crate::guest::invariants::Invariants;
use crate::runner::Ctx;

const STP: &str = "sig-network/primary-udn-migration.md";
const UDN: Needs = Needs::migration(&[Feature::PrimaryUdn]);

pub const SCENARIOS: &[Scenario] = &[
    automated(
        Scenario {
            needs: UDN,
            ..declare(STP, 1, &["CNV-11674"], "ip-kept-across-migration")
        },
        ip_kept_across_migration,
    ),
    automated(
        Scenario {
            needs: UDN,
            ..declare(STP, 2, &["CNV-11427"], "tcp-connection-survives-migration")
        },
        tcp_connection_survives_migration,
    ),
    automated(
        Scenario {
            needs: UDN,
            ..declare(STP, 3, &["VSTP-201"], "east-west-without-nat")
        },
        east_west_without_nat,
    ),
    automated(
        Scenario {
            needs: UDN,
            ..declare(STP, 4, &["VSTP-202"], "requested-ip-used")
        },
        requested_ip_used,
    ),
];

/// The port the server VM listens on.
const PORT: u16 = 9000;

/// Row 1: the address in the VMI status and in the guest is the same before and after a
/// live migration.
fn ip_kept_across_migration(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = on_primary_udn(&ctx).await?;
        let vm = start(&ctx, &scope, "vm-a", |vm| vm).await?;
        let ip = address(&vm)?;
        ctx.step(format!("vm-a has {ip} on the UDN"));
        assert_guest_has(&vm, ip).await?;
        let before = Invariants::capture(&vm.guest, &vm.vmi).await?;
        migrate_keeping(&ctx, &scope, &vm, ip, &before).await
    }
    .boxed()
}

/// Row 2: a TCP connection from one VM to another survives a migration of the client.
fn tcp_connection_survives_migration(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = on_primary_udn(&ctx).await?;
        let (server, client) = connected_pair(&ctx, &scope).await?;
        let server_ip = address(&server)?;
        let connection = client.guest.connection_to(server_ip, PORT).await?;
        ctx.step(format!(
            "connection {} → {} established",
            connection.0, connection.1
        ));
        let before = Invariants::capture(&client.guest, &client.vmi).await?;
        migrate_keeping(&ctx, &scope, &client, address(&client)?, &before).await?;
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
    .boxed()
}

/// Row 3: the server sees the client VM's own address as the source (no NAT).
fn east_west_without_nat(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = on_primary_udn(&ctx).await?;
        let (server, client) = connected_pair(&ctx, &scope).await?;
        let client_ip = address(&client)?;
        let peers: Vec<IpAddr> = server
            .guest
            .established()
            .await?
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
    .boxed()
}

/// Row 4: an address asked for with `network.kubevirt.io/addresses` is the one the VMI and the
/// guest use, also after a migration.
fn requested_ip_used(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = on_primary_udn(&ctx).await?;
        let wanted: IpAddr = "10.100.0.200".parse()?;
        let vm = start(&ctx, &scope, "vm-a", |vm| {
            vm.with_template_annotation("network.kubevirt.io/addresses", &format!("[\"{wanted}\"]"))
        })
        .await?;
        let ip = address(&vm)?;
        anyhow::ensure!(ip == wanted, "vm-a got {ip}, it asked for {wanted}");
        assert_guest_has(&vm, ip).await?;
        let before = Invariants::capture(&vm.guest, &vm.vmi).await?;
        migrate_keeping(&ctx, &scope, &vm, wanted, &before).await
    }
    .boxed()
}

/// The scenario's namespace, labelled for a primary UDN, with its UDN.
async fn on_primary_udn(ctx: &Ctx) -> anyhow::Result<std::sync::Arc<Scope>> {
    let scope = ctx.scope(NamespaceKind::PrimaryUdn).await?;
    ctx.step(format!("primary layer2 UDN on {}", setups::UDN_SUBNET));
    setups::primary_udn(&scope, "tenant").await?;
    Ok(scope)
}

/// A RHEL VM on the namespace's primary UDN (pod network, l2bridge binding).
async fn start(
    ctx: &Ctx,
    scope: &Scope,
    name: &str,
    shape: impl FnOnce(Vm) -> Vm,
) -> anyhow::Result<Running> {
    let vm = ctx
        .vm(name, GuestOs::Rhel)
        .await?
        .with_pod_nic(Nic::primary_udn());
    ctx.start(scope, &shape(vm)).await
}

/// A server listening on [`PORT`] and a client holding a connection to it.
async fn connected_pair(ctx: &Ctx, scope: &Scope) -> anyhow::Result<(Running, Running)> {
    let (server, client) = futures::try_join!(
        start(ctx, scope, "server", |vm| vm),
        start(ctx, scope, "client", |vm| vm)
    )?;
    server.guest.listen(PORT).await?;
    let server_ip = address(&server)?;
    client.guest.hold_connection(server_ip, PORT).await?;
    ctx.step(format!("client connected to {server_ip}:{PORT}"));
    Ok((server, client))
}

/// The VM's address on the UDN, as its VMI status reports it.
fn address(vm: &Running) -> anyhow::Result<IpAddr> {
    vms::ip_of(&vm.vmi, "default")
        .ok_or_else(|| anyhow::anyhow!("the VMI status of {} reports no address", vm.name))
}

async fn assert_guest_has(vm: &Running, ip: IpAddr) -> anyhow::Result<()> {
    let interfaces = vm.guest.interfaces().await?;
    anyhow::ensure!(
        interfaces
            .iter()
            .any(|i| i.addresses.iter().any(|(a, _)| *a == ip)),
        "the guest of {} does not have {ip}: {interfaces:?}",
        vm.name
    );
    Ok(())
}

/// Migrates `vm`; afterwards the VMI status and the guest still have `ip` and nothing a
/// live migration must keep broke.
async fn migrate_keeping(
    ctx: &Ctx,
    scope: &Scope,
    vm: &Running,
    ip: IpAddr,
    before: &Invariants,
) -> anyhow::Result<()> {
    ctx.step(format!("migrate {}", vm.name));
    let done = migration::migrate(scope, &vm.name).await?;
    ctx.step(format!("migration {} succeeded", done.name()));
    let after = vms::ip_of(&done.vmi, "default");
    anyhow::ensure!(
        after == Some(ip),
        "{} had {ip} before the migration and {after:?} after",
        vm.name
    );
    assert_guest_has(vm, ip).await?;
    before.assert_preserved(&vm.guest, &done.vmi).await
}

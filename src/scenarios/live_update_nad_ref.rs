//! stps/sig-network/live-update-nad-ref.md — live update of a VM's NAD reference (VIRTSTRAT-560).
//!
//! Every row starts from the same world: two VLANs reachable from every worker (a Linux bridge
//! trunk, or localnet on an OVS bridge mapping), one peer VM per VLAN on another node, and the
//! VM under test on the first VLAN.

use anyhow::Context;
use futures::future::BoxFuture;
use futures::FutureExt;

use super::{changes_node_networking, declare, Feature, GuestOs, Needs, Scenario};
use crate::cluster::build::{storage, Nic, Vm};
use crate::cluster::migration::{self, Finished, Mark};
use crate::cluster::setups::{self, Subnet, TwoVlans};
use crate::cluster::vms::{self, Running};
use crate::cluster::{kinds, nodes, wait, NamespaceKind, Scope, Wait};
use crate::guest::invariants::Invariants;
use crate::runner::Ctx;

const STP: &str = "sig-network/live-update-nad-ref.md";
const ROW_IDS: &[&str] = &["VIRTSTRAT-560"];
const SWAP: Needs = Needs::bridge(&[Feature::LiveUpdateNadRef]);

pub const SCENARIOS: &[Scenario] = &[
    changes_node_networking(
        Scenario {
            test_ids: &["CNV-15972", "CNV-15945"],
            needs: SWAP,
            ..declare(STP, 1, ROW_IDS, "bridge-vlan-swap")
        },
        bridge_vlan_swap,
    ),
    changes_node_networking(
        Scenario {
            test_ids: &["CNV-15948"],
            needs: Needs::bridge(&[Feature::LiveUpdateNadRef, Feature::Localnet]),
            ..declare(STP, 2, ROW_IDS, "localnet-swap")
        },
        localnet_swap,
    ),
    changes_node_networking(
        Scenario {
            test_ids: &["CNV-15946"],
            needs: SWAP,
            ..declare(STP, 3, ROW_IDS, "two-nics-one-patch")
        },
        two_nics_one_patch,
    ),
    changes_node_networking(
        Scenario {
            test_ids: &["CNV-15947"],
            needs: Needs::bridge(&[Feature::LiveUpdateNadRef, Feature::NonMigratableStorage]),
            ..declare(STP, 4, ROW_IDS, "non-migratable-keeps-network")
        },
        non_migratable_keeps_network,
    ),
    changes_node_networking(
        Scenario {
            needs: SWAP,
            ..declare(STP, 5, ROW_IDS, "migrate-after-swap")
        },
        migrate_after_swap,
    ),
];

/// Host parts of the addresses: the VM under test, and the peer on each VLAN.
const UNDER_TEST: u8 = 1;
const PEERS: [u8; 2] = [10, 20];
const VM: &str = "vm-under-test";

/// Row 1: swap a running VM's bridge NIC from the VLAN 10 NAD to the VLAN 20 NAD; no reboot,
/// same MAC, interface and addresses, the VLAN 20 peer only, over IPv4 and IPv6.
fn bridge_vlan_swap(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { swap_and_check(&ctx, Vlans::Bridge).await }.boxed()
}

/// Row 2: the same between two OVN-K localnet networks on different VLANs.
fn localnet_swap(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { swap_and_check(&ctx, Vlans::Localnet).await }.boxed()
}

async fn swap_and_check(ctx: &Ctx, vlans: Vlans) -> anyhow::Result<()> {
    let world = World::set_up(ctx, vlans, 1).await?;
    let vm = world.start_under_test(ctx, None).await?;
    world.start_peers(ctx, vm.node()).await?;
    ctx.step("before: reaches the first VLAN's peer, not the second's");
    world.reaches_only(&vm, 0, 0).await?;
    let before = Invariants::capture(&vm.guest, &vm.vmi).await?;

    ctx.step("swap net1 to the second VLAN's NAD");
    let done = swap_live(ctx, &world.scope, &[("net1", &world.net.nads[1])]).await?;
    world
        .assert_moved(ctx, &vm, &before, &done, &[("net1", 1)])
        .await
}

/// Row 3: two NICs swapped in one patch; one migration moves both.
fn two_nics_one_patch(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let world = World::set_up(&ctx, Vlans::Bridge, 2).await?;
        let vm = world.start_under_test(&ctx, None).await?;
        world.start_peers(&ctx, vm.node()).await?;
        ctx.step("before: net1 reaches the first VLAN's peer, net2 the second's");
        world.reaches_only(&vm, 0, 0).await?;
        world.reaches_only(&vm, 1, 1).await?;
        let before = Invariants::capture(&vm.guest, &vm.vmi).await?;

        ctx.step("swap both NICs in one patch: net1 to the second VLAN, net2 to the first");
        let nads = &world.net.nads;
        let changes = [("net1", nads[1].as_str()), ("net2", nads[0].as_str())];
        let done = swap_live(&ctx, &world.scope, &changes).await?;
        let migrations = migration::since(&world.scope, &done.mark).await?;
        anyhow::ensure!(
            migrations.len() == 1,
            "one migration was expected to move both NICs, there were {}: {migrations:?}",
            migrations.len()
        );
        world
            .assert_moved(&ctx, &vm, &before, &done, &[("net1", 1), ("net2", 0)])
            .await
    }
    .boxed()
}

/// Row 4: a VM that cannot live-migrate keeps its network until restarted.
fn non_migratable_keeps_network(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let world = World::set_up(&ctx, Vlans::Bridge, 1).await?;
        let profile = &ctx.target().await?.profile;
        ctx.step("a ReadWriteOnce data disk makes the VM non-migratable");
        let claim = storage::rwo_claim("scratch", "1Gi", profile.storage_class.as_deref());
        world.scope.create(kinds::PVC, claim).await?;
        let vm = world.start_under_test(&ctx, Some("scratch")).await?;
        world.start_peers(&ctx, vm.node()).await?;
        world.reaches_only(&vm, 0, 0).await?;

        ctx.step("swap net1 to the second VLAN's NAD");
        let mark = vms::swap_networks(&world.scope, VM, &[("net1", &world.net.nads[1])]).await?;
        let budget = world.scope.budgets.of(Wait::Reaction);
        wait::Watch::object(world.scope.client(), kinds::VM, world.scope.ns(), VM)
            .until_object("the VM to report RestartRequired", budget, |v| {
                wait::condition(v, "RestartRequired") == Some("True")
            })
            .await?;

        ctx.step("the VMI keeps the old NAD, no migration ran, the old peer still answers");
        let vmi = vms::get(&world.scope, kinds::VMI, VM).await?;
        let named = vms::network_of(&vmi, "net1");
        anyhow::ensure!(
            named == Some(world.net.nads[0].as_str()),
            "the VMI spec of a non-migratable VM changed to {named:?}"
        );
        let migrations = migration::since(&world.scope, &mark).await?;
        anyhow::ensure!(migrations.is_empty(), "migrations ran: {migrations:?}");
        world.reaches_only(&vm, 0, 0).await
    }
    .boxed()
}

/// Row 5: after a swap, a later migration keeps the new network.
fn migrate_after_swap(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let world = World::set_up(&ctx, Vlans::Bridge, 1).await?;
        let vm = world.start_under_test(&ctx, None).await?;
        world.start_peers(&ctx, vm.node()).await?;
        let before = Invariants::capture(&vm.guest, &vm.vmi).await?;
        let done = swap_live(&ctx, &world.scope, &[("net1", &world.net.nads[1])]).await?;
        world
            .assert_moved(&ctx, &vm, &before, &done, &[("net1", 1)])
            .await?;

        ctx.step("migrate once more");
        let again = migration::migrate(&world.scope, VM).await?;
        ctx.step(format!("migration {} succeeded", again.name()));
        before.assert_preserved(&vm.guest, &again.vmi).await?;
        world.reaches_only(&vm, 0, 1).await
    }
    .boxed()
}

/// A swap as the user makes it, followed the way KubeVirt carries it out.
struct Swapped {
    mark: Mark,
    migration: Finished,
}

/// Patches the VM's networks, then sees MigrationRequired raised for the live update and
/// cleared, and the workload-update migration succeed.
async fn swap_live(ctx: &Ctx, scope: &Scope, changes: &[(&str, &str)]) -> anyhow::Result<Swapped> {
    let mark = vms::swap_networks(scope, VM, changes).await?;
    let required = migration::condition_cycle(scope, &mark, "MigrationRequired").await?;
    anyhow::ensure!(
        required["reason"] == "AutoMigrationDueToLiveUpdate",
        "MigrationRequired was raised with reason {}, expected AutoMigrationDueToLiveUpdate",
        required["reason"]
    );
    let done = migration::started_by_kubevirt(scope, &mark, "kubevirt-workload-update-").await?;
    ctx.step(format!(
        "workload-update migration {} succeeded",
        done.name()
    ));
    Ok(Swapped {
        mark,
        migration: done,
    })
}

#[derive(Clone, Copy)]
/// How the two VLANs reach the workers.
enum Vlans {
    Bridge,
    Localnet,
}

/// The set-up every row shares: the namespace, two VLANs, and one subnet per NIC under test.
struct World {
    scope: std::sync::Arc<Scope>,
    net: TwoVlans,
    /// One subnet per NIC of the VM under test (`net1`, `net2`, …).
    subnets: Vec<Subnet>,
}

impl World {
    async fn set_up(ctx: &Ctx, vlans: Vlans, nics: usize) -> anyhow::Result<World> {
        let profile = &ctx.target().await?.profile;
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let net = match vlans {
            Vlans::Bridge => {
                ctx.step("a Linux bridge trunking both VLANs on every worker, a NAD per VLAN");
                setups::bridged_vlans(&scope, profile).await?
            }
            Vlans::Localnet => {
                ctx.step("an OVS bridge mapping on every worker, a localnet NAD per VLAN");
                setups::localnet_vlans(&scope, profile).await?
            }
        };
        let mut subnets = Vec::new();
        for _ in 0..nics {
            subnets.push(ctx.subnet().await?);
        }
        Ok(World {
            scope,
            net,
            subnets,
        })
    }

    /// The VM under test: NIC i on VLAN i (net1 on the first VLAN, net2 on the second).
    async fn start_under_test(&self, ctx: &Ctx, disk: Option<&str>) -> anyhow::Result<Running> {
        let mut vm = ctx.vm(VM, GuestOs::Rhel).await?;
        for (i, subnet) in self.subnets.iter().enumerate() {
            let nic = Nic::bridge(&format!("net{}", i + 1), &self.net.nads[i]);
            vm = vm.with_nic(nic.with_addresses(&subnet.cidrs(UNDER_TEST)));
        }
        if let Some(claim) = disk {
            vm = vm.with_data_disk(claim);
        }
        ctx.start(&self.scope, &vm).await
    }

    /// One peer per VLAN on a node other than `avoid`, so traffic crosses the switch; each
    /// has a NIC in every subnet, all on its VLAN.
    async fn start_peers(&self, ctx: &Ctx, avoid: &str) -> anyhow::Result<()> {
        let workers = nodes::workers(self.scope.client()).await?;
        let node = workers
            .iter()
            .find(|w| *w != avoid)
            .ok_or_else(|| anyhow::anyhow!("no schedulable worker besides {avoid}: {workers:?}"))?;
        let mut peers = Vec::new();
        for (vlan, host) in PEERS.iter().enumerate() {
            let nad = &self.net.nads[vlan];
            let mut peer: Vm = ctx.vm(&format!("peer-{nad}"), GuestOs::Rhel).await?;
            for (i, subnet) in self.subnets.iter().enumerate() {
                let nic = Nic::bridge(&format!("net{}", i + 1), nad);
                peer = peer.with_nic(nic.with_addresses(&subnet.cidrs(*host)));
            }
            peers.push(peer.on_node(node));
        }
        ctx.start_all(&self.scope, &peers).await?;
        Ok(())
    }

    /// In subnet `subnet`, `vm` reaches the peer on VLAN `vlan` and not the other one, over
    /// every IP family.
    async fn reaches_only(&self, vm: &Running, subnet: usize, vlan: usize) -> anyhow::Result<()> {
        let s = self.subnets[subnet];
        let (yes, no) = (PEERS[vlan], PEERS[1 - vlan]);
        let (attached, other) = (&self.net.nads[vlan], &self.net.nads[1 - vlan]);
        for (reach, isolated) in s.addresses(yes).into_iter().zip(s.addresses(no)) {
            vm.guest.assert_reaches(reach).await.with_context(|| {
                format!("connectivity broken: the peer on {attached}, the VM's network, does not answer")
            })?;
            vm.guest.assert_isolated_from(isolated).await.with_context(|| {
                format!("isolation broken: the peer on {other}, a network the VM is not on, answers")
            })?;
        }
        Ok(())
    }

    /// After a swap: each NIC's VMI spec names its new NAD, nothing a live change must keep
    /// broke, each NIC kept its addresses and reaches its new VLAN's peer only.
    async fn assert_moved(
        &self,
        ctx: &Ctx,
        vm: &Running,
        before: &Invariants,
        done: &Swapped,
        moved: &[(&str, usize)],
    ) -> anyhow::Result<()> {
        ctx.step("after: same boot, PID, MACs and addresses; the new VLAN's peer only");
        let vmi = &done.migration.vmi;
        for (nic, vlan) in moved {
            let named = vms::network_of(vmi, nic);
            anyhow::ensure!(
                named == Some(self.net.nads[*vlan].as_str()),
                "the VMI spec names {named:?} for {nic}, expected {}",
                self.net.nads[*vlan]
            );
        }
        before.assert_preserved(&vm.guest, vmi).await?;
        for (i, (nic, vlan)) in moved.iter().enumerate() {
            self.keeps_addresses(vm, nic, self.subnets[i]).await?;
            self.reaches_only(vm, i, *vlan).await?;
        }
        Ok(())
    }

    /// NIC `nic` still carries the addresses cloud-init gave it.
    async fn keeps_addresses(&self, vm: &Running, nic: &str, subnet: Subnet) -> anyhow::Result<()> {
        let mac = vms::mac_of(&vm.vmi, nic)
            .ok_or_else(|| anyhow::anyhow!("the VMI status has no MAC for {nic}"))?;
        let found = vm.guest.interface_with_mac(&mac).await?;
        for address in subnet.addresses(UNDER_TEST) {
            anyhow::ensure!(
                found.addresses.iter().any(|(a, _)| *a == address),
                "{} lost {address} on {}: it has {:?}",
                vm.name,
                found.name,
                found.addresses
            );
        }
        Ok(())
    }
}

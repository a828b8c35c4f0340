//! stps/sig-network/hotpluggable-nad-ref.md — live update of a VM's NAD reference (VIRTSTRAT-560).
//!
//! Every row starts from the same world: two VLANs reachable from every worker (a Linux bridge
//! trunk, or localnet on an OVS bridge mapping), one peer VM per VLAN on another node, and the
//! VM under test on the first VLAN.

use std::sync::Arc;

use anyhow::Context;

use super::scenario::{Attach, Scenario};
use crate::cluster::budget::Wait;
use crate::cluster::build::{storage, Nic};
use crate::cluster::kinds;
use crate::cluster::monitoring::{self, answer::Series, Monitoring};
use crate::cluster::scope::{NamespaceKind, Scope};
use crate::cluster::setups::{self, Subnet, TwoVlans};
use crate::ctx::Ctx;
use crate::guest::os::GuestOs;
use crate::plan::{row, Declaration, Feature, Needs};
use crate::vm::{Change, Invariants, Migrated, Vm, Vmi};

const STP: &str = "sig-network/hotpluggable-nad-ref.md";

/// Every row of this STP: VIRTSTRAT-560, a bridge on every worker.
const fn swap_row(n: usize, slug: &'static str) -> Declaration {
    row(STP, n, slug)
        .ids(&["VIRTSTRAT-560"])
        .needs(Needs::bridge(&[Feature::LiveUpdateNadRef]))
        .changes_node_networking()
}

pub fn scenarios() -> Vec<Scenario> {
    vec![
        swap_row(1, "bridge-vlan-swap")
            .tests(&["CNV-15972", "CNV-15945"])
            .body(|ctx| async move { swap_and_check(&ctx, Vlans::Bridge).await }),
        swap_row(1, "migrate-after-swap").body(migrate_after_swap),
        swap_row(2, "localnet-swap")
            .tests(&["CNV-15948"])
            .needs(Needs::bridge(&[
                Feature::LiveUpdateNadRef,
                Feature::Localnet,
            ]))
            .body(|ctx| async move { swap_and_check(&ctx, Vlans::Localnet).await }),
        swap_row(3, "two-nics-one-patch")
            .tests(&["CNV-15946"])
            .body(two_nics_one_patch),
        swap_row(4, "non-migratable-keeps-network")
            .tests(&["CNV-15947"])
            .needs(Needs::bridge(&[
                Feature::LiveUpdateNadRef,
                Feature::NonMigratableStorage,
            ]))
            .body(non_migratable_keeps_network),
        swap_row(5, "vnic-metric-follows-swap").body(vnic_metric_follows_swap),
    ]
}

/// Host parts of the addresses: the VM under test, and the peer on each VLAN.
const UNDER_TEST: u8 = 1;
const PEERS: [u8; 2] = [10, 20];
const VM: &str = "vm-under-test";
/// The data disk that makes the VM non-migratable, and its size.
const RWO_DISK: (&str, &str) = ("scratch", "1Gi");

/// Rows 1 and 2: swap a running VM's NIC from the first VLAN's NAD to the second's; no reboot,
/// same MAC, interface and addresses, the second VLAN's peer only, over IPv4 and IPv6.
async fn swap_and_check(ctx: &Ctx, vlans: Vlans) -> anyhow::Result<()> {
    let world = World::set_up(ctx, vlans, 1).await?;
    let vm = world.start_under_test(ctx, false).await?;
    world.start_peers(ctx, vm.booted_on()).await?;
    ctx.step("before: reaches the first VLAN's peer, not the second's");
    world.reaches_only(&vm, 0, 0).await?;
    let before = vm.capture().await?;

    ctx.step("swap net1 to the second VLAN's NAD");
    let swap = vm
        .change(Change::networks([("net1", world.nad(1))]))
        .await?;
    let migrated = swap.live_update().await?;
    ctx.step(format!("{migrated} applied the swap"));
    world
        .assert_moved(ctx, &vm, &before, &migrated, &[("net1", 1)])
        .await
}

/// Row 3: two NICs swapped in one patch; one migration moves both.
async fn two_nics_one_patch(ctx: Ctx) -> anyhow::Result<()> {
    let world = World::set_up(&ctx, Vlans::Bridge, 2).await?;
    let vm = world.start_under_test(&ctx, false).await?;
    world.start_peers(&ctx, vm.booted_on()).await?;
    ctx.step("before: net1 reaches the first VLAN's peer, net2 the second's");
    world.reaches_only(&vm, 0, 0).await?;
    world.reaches_only(&vm, 1, 1).await?;
    let before = vm.capture().await?;

    ctx.step("swap both NICs in one patch: net1 to the second VLAN, net2 to the first");
    let both = [("net1", world.nad(1)), ("net2", world.nad(0))];
    let swap = vm.change(Change::networks(both)).await?;
    let migrated = swap.live_update().await?;
    let migrations = swap.migrations().await?;
    anyhow::ensure!(
        migrations == [migrated.name.clone()],
        "one migration was expected to move both NICs, there were {}: {migrations:?}",
        migrations.len()
    );
    let moved = [("net1", 1), ("net2", 0)];
    world
        .assert_moved(&ctx, &vm, &before, &migrated, &moved)
        .await
}

/// Row 4: a VM that cannot live-migrate stays on its network. KubeVirt takes the new NAD
/// into the VMI spec and asks for the migration that would apply it, which the workload updater
/// never starts for a non-migratable VMI; no restart is requested.
async fn non_migratable_keeps_network(ctx: Ctx) -> anyhow::Result<()> {
    let world = World::set_up(&ctx, Vlans::Bridge, 1).await?;
    let vm = world.start_under_test(&ctx, true).await?;
    world.start_peers(&ctx, vm.booted_on()).await?;
    world.reaches_only(&vm, 0, 0).await?;

    ctx.step("swap net1 to the second VLAN's NAD");
    let new_nad = world.nad(1);
    let swap = vm.change(Change::networks([("net1", new_nad)])).await?;
    let awaited = format!("the VMI spec to name {new_nad} for net1");
    let named = |vmi: &Vmi| (vmi.network_of("net1") == Some(new_nad)).then_some(());
    swap.replay(&awaited, named).await?;
    ctx.step("the VMI spec names the new NAD; a migration is asked for and, for a quiet window, never starts");
    // A swap applied at once shows in the running launcher pod's networks: seen as it comes.
    let attached = async {
        let pod = swap.launcher_attaches(new_nad).await?;
        Ok(format!("launcher pod {pod} attaches {new_nad}"))
    };
    swap.not_applied("the NAD swap", attached).await?;
    let restart = vm.vm_condition("RestartRequired").await?;
    anyhow::ensure!(
        restart.as_ref().is_none_or(|c| !c.is_true()),
        "a NAD swap on a non-migratable VM asked for a restart: {restart:?}"
    );
    ctx.step("the guest stays on the first VLAN");
    world.reaches_only(&vm, 0, 0).await
}

/// Row 5: after a swap, a later migration keeps the new network.
async fn migrate_after_swap(ctx: Ctx) -> anyhow::Result<()> {
    let world = World::set_up(&ctx, Vlans::Bridge, 1).await?;
    let vm = world.start_under_test(&ctx, false).await?;
    world.start_peers(&ctx, vm.booted_on()).await?;
    let before = vm.capture().await?;
    let swap = vm
        .change(Change::networks([("net1", world.nad(1))]))
        .await?;
    let migrated = swap.live_update().await?;
    world
        .assert_moved(&ctx, &vm, &before, &migrated, &[("net1", 1)])
        .await?;

    ctx.step("migrate once more");
    let again = vm.migrate().await?;
    ctx.step(format!("{again} succeeded"));
    before.assert_preserved(&vm.guest, &again.vmi).await?;
    world.reaches_only(&vm, 0, 1).await
}

/// Row 5: the monitoring data follows the swap: KubeVirt's VM network interface info metrics
/// (`kubevirt_vmi_vnic_info`, `kubevirt_vm_vnic_info`), read where OpenShift serves them, report
/// net1 on the second VLAN's NAD once the swap is applied, and no longer on the first's.
async fn vnic_metric_follows_swap(ctx: Ctx) -> anyhow::Result<()> {
    let world = World::set_up(&ctx, Vlans::Bridge, 1).await?;
    let vm = world.start_under_test(&ctx, false).await?;
    let monitoring = ctx.monitoring().await?;
    let (old, new) = (world.nad(0), world.nad(1));
    ctx.step(format!("before: net1's vNIC info reports {old}"));
    world.vnic_reports(&monitoring, &vm, old).await?;

    ctx.step("swap net1 to the second VLAN's NAD");
    let swap = vm.change(Change::networks([("net1", new)])).await?;
    let migrated = swap.live_update().await?;
    ctx.step(format!("{migrated} applied the swap"));
    ctx.step(format!(
        "after: net1's vNIC info reports {new}, no longer {old}"
    ));
    world.vnic_reports(&monitoring, &vm, new).await
}

#[derive(Clone, Copy)]
/// How the two VLANs reach the workers.
enum Vlans {
    Bridge,
    Localnet,
}

/// The set-up every row shares: the namespace, two VLANs, and one subnet per NIC under test.
struct World {
    scope: Arc<Scope>,
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
                ctx.step("a Linux bridge trunking both VLANs on every usable node with the NIC, a NAD per VLAN");
                setups::bridged_vlans(&scope, profile).await?
            }
            Vlans::Localnet => {
                ctx.step("an OVS bridge mapping on every usable node with the NIC, a localnet NAD per VLAN");
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

    /// The NAD of VLAN `vlan` (0 or 1).
    fn nad(&self, vlan: usize) -> &str {
        &self.net.nads[vlan]
    }

    /// The VM under test: NIC i on VLAN i (net1 on the first VLAN, net2 on the second); with a
    /// ReadWriteOnce data disk when `non_migratable`.
    async fn start_under_test(&self, ctx: &Ctx, non_migratable: bool) -> anyhow::Result<Vm> {
        let mut vm = ctx.vm(VM, GuestOs::Rhel).await?.on_nodes(&self.net.nodes);
        for (i, subnet) in self.subnets.iter().enumerate() {
            let nic = Nic::bridge(&format!("net{}", i + 1), self.nad(i));
            vm = vm.with_nic(nic.with_addresses(&subnet.cidrs(UNDER_TEST)));
        }
        if non_migratable {
            ctx.step("a ReadWriteOnce data disk makes the VM non-migratable");
            let class = ctx.target().await?.profile.storage_class.clone();
            let (name, size) = RWO_DISK;
            let claim = storage::rwo_claim(name, size, class.as_deref());
            self.scope.create(kinds::PVC, claim).await?;
            vm = vm.with_data_disk(name);
        }
        ctx.start(&self.scope, &vm).await
    }

    /// One peer per VLAN on a node other than `avoid`, so traffic crosses the switch; each
    /// has a NIC in every subnet, all on its VLAN.
    async fn start_peers(&self, ctx: &Ctx, avoid: &str) -> anyhow::Result<()> {
        let bridged = &self.net.nodes;
        let node = bridged.iter().find(|w| *w != avoid).ok_or_else(|| {
            anyhow::anyhow!("no node carrying the VLANs besides {avoid}: {bridged:?}")
        })?;
        let mut peers = Vec::new();
        for (vlan, host) in PEERS.iter().enumerate() {
            let nad = self.nad(vlan);
            let mut peer = ctx.vm(&format!("peer-{nad}"), GuestOs::Rhel).await?;
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
    async fn reaches_only(&self, vm: &Vm, subnet: usize, vlan: usize) -> anyhow::Result<()> {
        let s = self.subnets[subnet];
        let (yes, no) = (PEERS[vlan], PEERS[1 - vlan]);
        let (attached, other) = (self.nad(vlan), self.nad(1 - vlan));
        for (reach, isolated) in s.addresses(yes).into_iter().zip(s.addresses(no)) {
            // Probed until it answers; the other VLAN's peer, once, strictly: one answer is
            // a broken isolation.
            let budget = vm.budget(Wait::Reaction);
            vm.guest.assert_reaches(reach, budget).await.with_context(|| {
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
        vm: &Vm,
        before: &Invariants,
        migrated: &Migrated,
        moved: &[(&str, usize)],
    ) -> anyhow::Result<()> {
        ctx.step("after: same boot, PID, MACs and addresses; the new VLAN's peer only");
        for (nic, vlan) in moved {
            let named = migrated.vmi.network_of(nic);
            anyhow::ensure!(
                named == Some(self.nad(*vlan)),
                "the VMI spec names {named:?} for {nic}, expected {}",
                self.nad(*vlan)
            );
        }
        before.assert_preserved(&vm.guest, &migrated.vmi).await?;
        for (i, (nic, vlan)) in moved.iter().enumerate() {
            self.keeps_addresses(vm, nic, self.subnets[i]).await?;
            self.reaches_only(vm, i, *vlan).await?;
        }
        Ok(())
    }

    /// Both vNIC info metrics of `vm`'s net1 report `nad` and nothing else, from a scrape
    /// within the reaction budget.
    async fn vnic_reports(
        &self,
        monitoring: &Monitoring,
        vm: &Vm,
        nad: &str,
    ) -> anyhow::Result<()> {
        let labels = [
            ("namespace", self.scope.ns()),
            ("name", vm.name()),
            ("vnic_name", "net1"),
        ];
        for metric in ["kubevirt_vmi_vnic_info", "kubevirt_vm_vnic_info"] {
            let selector = monitoring::selector(metric, &labels);
            let what = format!("{metric} of net1 to report network {nad} only");
            let on_nad = |series: &[Series]| {
                !series.is_empty() && series.iter().all(|s| s.label("network") == Some(nad))
            };
            let budget = vm.budget(Wait::Reaction);
            monitoring
                .await_series(&selector, &what, budget, on_nad)
                .await?;
        }
        Ok(())
    }

    /// NIC `nic` still carries the addresses cloud-init gave it.
    async fn keeps_addresses(&self, vm: &Vm, nic: &str, subnet: Subnet) -> anyhow::Result<()> {
        let mac = vm
            .booted()
            .mac_of(nic)
            .ok_or_else(|| anyhow::anyhow!("the VMI status has no MAC for {nic}"))?;
        let found = vm.guest.interface_with_mac(&mac).await?;
        for address in subnet.addresses(UNDER_TEST) {
            anyhow::ensure!(
                found.addresses.iter().any(|(a, _)| *a == address),
                "{} lost {address} on {}: it has {:?}",
                vm.name(),
                found.name,
                found.addresses
            );
        }
        Ok(())
    }
}

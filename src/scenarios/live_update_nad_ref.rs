//! stps/sig-network/live-update-nad-ref.md — live update of a VM's NAD reference (VIRTSTRAT-560).

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{declare, Feature, GuestOs, Implementation, Needs, Scenario};
use crate::cluster::build::Nic;
use crate::cluster::setups::{self, Subnet, TwoVlans};
use crate::cluster::vms::{self, Running};
use crate::cluster::{kinds, migration, NamespaceKind, Scope};
use crate::guest::invariants::Invariants;
use crate::runner::Ctx;

const STP: &str = "sig-network/live-update-nad-ref.md";
const ROW_IDS: &[&str] = &["VIRTSTRAT-560"];
const SWAP: Needs = Needs::bridge(&[Feature::LiveUpdateNadRef]);

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        test_ids: &["CNV-15972", "CNV-15945"],
        needs: SWAP,
        disruptive: true,
        implementation: Implementation::Automated(bridge_vlan_swap),
        ..declare(STP, 1, ROW_IDS, "bridge-vlan-swap")
    },
    Scenario {
        test_ids: &["CNV-15948"],
        needs: Needs::bridge(&[Feature::LiveUpdateNadRef, Feature::Localnet]),
        ..declare(STP, 2, ROW_IDS, "localnet-swap")
    },
    Scenario {
        test_ids: &["CNV-15946"],
        needs: SWAP,
        ..declare(STP, 3, ROW_IDS, "two-nics-one-patch")
    },
    Scenario {
        test_ids: &["CNV-15947"],
        needs: Needs::bridge(&[Feature::LiveUpdateNadRef, Feature::NonMigratableStorage]),
        ..declare(STP, 4, ROW_IDS, "non-migratable-keeps-network")
    },
    Scenario {
        needs: SWAP,
        ..declare(STP, 5, ROW_IDS, "migrate-after-swap")
    },
];

/// Host parts of the addresses: the VM under test and one peer per VLAN.
const UNDER_TEST: u8 = 1;
const PEERS: [u8; 2] = [10, 20];

/// Row 1: swap a running VM's bridge NIC from the VLAN 10 NAD to the VLAN 20 NAD.
fn bridge_vlan_swap(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let target = ctx.target().await?;
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        ctx.step("a bridge trunking both VLANs on every worker, a NAD per VLAN");
        let net = setups::bridged_vlans(&scope, &target.profile).await?;
        let subnet = ctx.subnet().await?;
        let vm = start_on_first_vlan(&ctx, &scope, &net, subnet, "vm-under-test").await?;
        start_peers(&ctx, &scope, &net, subnet, vm.node()).await?;

        ctx.step("before: reaches the VLAN 10 peer and not the VLAN 20 peer, IPv4 and IPv6");
        reaches_only(&vm, subnet, PEERS[0], PEERS[1]).await?;
        let before = Invariants::capture(&vm.guest, &vm.vmi).await?;

        ctx.step("swap net1 to the VLAN 20 NAD");
        let mark = vms::swap_networks(&scope, &vm.name, &[("net1", &net.nads[1])]).await?;
        let required = migration::condition_cycle(&scope, &mark, "MigrationRequired").await?;
        anyhow::ensure!(
            required["reason"] == "AutoMigrationDueToLiveUpdate",
            "MigrationRequired was raised with reason {}, expected AutoMigrationDueToLiveUpdate",
            required["reason"]
        );
        let done =
            migration::started_by_kubevirt(&scope, &mark, "kubevirt-workload-update-").await?;
        ctx.step(format!(
            "workload-update migration {} succeeded",
            done.name()
        ));

        ctx.step("after: same boot, PID, MACs and addresses; VLAN 20 peer only");
        vm.guest.reconnect().await;
        let vmi = vms::get(&scope, kinds::VMI, &vm.name).await?;
        anyhow::ensure!(
            vms::network_of(&vmi, "net1") == Some(net.nads[1].as_str()),
            "the VMI spec still names {:?} for net1",
            vms::network_of(&vmi, "net1")
        );
        before.assert_preserved(&vm.guest, &vmi).await?;
        keeps_addresses(&vm, subnet).await?;
        reaches_only(&vm, subnet, PEERS[1], PEERS[0]).await
    }
    .boxed()
}

/// The VM under test with `net1` on the first VLAN.
async fn start_on_first_vlan(
    ctx: &Ctx,
    scope: &Scope,
    net: &TwoVlans,
    subnet: Subnet,
    name: &str,
) -> anyhow::Result<Running> {
    let nic = Nic::bridge("net1", &net.nads[0]).with_addresses(&subnet.cidrs(UNDER_TEST));
    let vm = ctx.vm(name, GuestOs::Rhel).await?.with_nic(nic);
    ctx.start(scope, &vm).await
}

/// One peer per VLAN, both on a node other than `avoid`, so traffic crosses the switch.
async fn start_peers(
    ctx: &Ctx,
    scope: &Scope,
    net: &TwoVlans,
    subnet: Subnet,
    avoid: &str,
) -> anyhow::Result<Vec<Running>> {
    let workers = crate::cluster::nodes::workers(scope.client()).await?;
    let node = workers
        .iter()
        .find(|w| *w != avoid)
        .ok_or_else(|| anyhow::anyhow!("no schedulable worker besides {avoid}: {workers:?}"))?;
    let mut peers = Vec::new();
    for (nad, host) in net.nads.iter().zip(PEERS) {
        let nic = Nic::bridge("net1", nad).with_addresses(&subnet.cidrs(host));
        let vm = ctx.vm(&format!("peer-{nad}"), GuestOs::Rhel).await?;
        peers.push(ctx.start(scope, &vm.with_nic(nic).on_node(node)).await?);
    }
    Ok(peers)
}

/// Reaches peer `yes` and not peer `no`, over IPv4 and IPv6.
async fn reaches_only(vm: &Running, subnet: Subnet, yes: u8, no: u8) -> anyhow::Result<()> {
    for (reach, isolated) in subnet.addresses(yes).into_iter().zip(subnet.addresses(no)) {
        vm.guest.assert_reaches(reach).await?;
        vm.guest.assert_isolated_from(isolated).await?;
    }
    Ok(())
}

/// The swapped NIC still carries the addresses cloud-init gave it.
async fn keeps_addresses(vm: &Running, subnet: Subnet) -> anyhow::Result<()> {
    let mac = vms::mac_of(&vm.vmi, "net1")
        .ok_or_else(|| anyhow::anyhow!("the VMI status has no MAC for net1"))?;
    let nic = vm.guest.interface_with_mac(&mac).await?;
    for address in subnet.addresses(UNDER_TEST) {
        anyhow::ensure!(
            nic.addresses.iter().any(|(a, _)| *a == address),
            "{} lost {address} on {}: it has {:?}",
            vm.name,
            nic.name,
            nic.addresses
        );
    }
    Ok(())
}

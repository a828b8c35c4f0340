//! stps/sig-network/nic-hotplug.md — hot-plug and hot-unplug of bridge NICs (project-local IDs).
//!
//! Every row starts from the same world: a VLAN bridged on every usable node with the NIC, a peer on
//! it, and the VM under test on the pod network only, whose cloud-init already describes the
//! NIC to come (matched by the MAC it will be plugged with).

use super::scenario::{Attach, Scenario};
use crate::cluster::budget::Wait;
use crate::cluster::build::{storage, Binding, Nic};
use crate::cluster::kinds;
use crate::cluster::scope::NamespaceKind;
use crate::cluster::setups::{self, Subnet, TwoVlans};
use crate::ctx::Ctx;
use crate::guest::os::GuestOs;
use crate::plan::{row, Declaration, Feature, Needs};
use crate::vm::{Change, Invariants, NicPlug, Vm};

const STP: &str = "sig-network/nic-hotplug.md";

const fn hotplug_row(n: usize, id: &'static [&'static str], slug: &'static str) -> Declaration {
    row(STP, n, slug)
        .ids(id)
        .needs(Needs::bridge(&[Feature::NicHotplug]))
        .changes_node_networking()
}

pub fn scenarios() -> Vec<Scenario> {
    vec![
        hotplug_row(1, &["VSTP-101"], "hotplug-bridge-nic").body(hotplug_bridge_nic),
        hotplug_row(2, &["VSTP-102"], "unplug-bridge-nic").body(unplug_bridge_nic),
        hotplug_row(3, &["VSTP-103"], "non-migratable-vm")
            .needs(Needs::bridge(&[
                Feature::NicHotplug,
                Feature::NonMigratableStorage,
            ]))
            .body(non_migratable_vm),
        hotplug_row(4, &["VSTP-104"], "non-bridge-binding-refused")
            .body(non_bridge_binding_refused),
        hotplug_row(5, &["VSTP-105"], "slot-limit").body(slot_limit),
    ]
}

const VM: &str = "vm-under-test";
const NIC: &str = "hot1";
const UNDER_TEST: u8 = 1;
const PEER: u8 = 10;
/// The data disk that makes the VM non-migratable, and its size.
const RWO_DISK: (&str, &str) = ("scratch", "1Gi");
/// Secondary NICs the slot-limit VM boots with (the most, leaving the fewest free slots), and
/// how many plugs it may take at most before the limit must have shown.
const BOOT_NICS: usize = 4;
const MAX_PLUGS: usize = 16;

/// Row 1: a bridge NIC plugged into a running VM arrives through a migration, with the MAC the
/// VMI reports, and carries traffic to the peer.
async fn hotplug_bridge_nic(ctx: Ctx) -> anyhow::Result<()> {
    let world = World::set_up(&ctx, false, 0).await?;
    world.plug(&ctx).await?;
    Ok(())
}

/// Row 2: `state: absent` takes the NIC out of the guest, the VMI status, the VMI spec and the
/// VM template, in that order; the peer is no longer reachable.
async fn unplug_bridge_nic(ctx: Ctx) -> anyhow::Result<()> {
    let world = World::set_up(&ctx, false, 0).await?;
    let before = world.plug(&ctx).await?;
    ctx.step(format!("unplug {NIC} with state: absent"));
    let unplug = world.vm.change(Change::RemoveInterface(NIC.into())).await?;
    let (mut change, mut status, mut spec) = (0, None, None);
    let (status, spec) = unplug
        .replay(&format!("{NIC} to leave the VMI"), |vmi| {
            change += 1;
            status = status.or((vmi.mac_of(NIC).is_none()).then_some(change));
            spec = spec.or((!vmi.has_interface(NIC)).then_some(change));
            Some((status?, spec?))
        })
        .await?;
    anyhow::ensure!(
        status <= spec,
        "{NIC} left the VMI spec (change {spec}) before the VMI status (change {status})"
    );
    unplug.interface_leaves_template(NIC).await?;
    ctx.step(format!(
        "{NIC} left the VMI status, then its spec, then the VM template"
    ));
    let mac = world.mac();
    anyhow::ensure!(!world.guest_has(mac).await?, "the guest still has {mac}");
    for address in world.subnet.addresses(PEER) {
        world.vm.guest.assert_isolated_from(address).await?;
    }
    let vmi = world.vm.vmi().await?;
    before
        .assert_preserved_besides(&world.vm.guest, &vmi, &[(NIC, mac)])
        .await
}

/// Row 3: a VM that cannot migrate does not get the NIC. KubeVirt takes the interface into the
/// VMI spec and asks for the migration that would plug it, which the workload updater never
/// starts for a non-migratable VMI; no restart is requested.
async fn non_migratable_vm(ctx: Ctx) -> anyhow::Result<()> {
    let world = World::set_up(&ctx, true, 0).await?;
    ctx.step(format!("hot-plug {NIC} into the non-migratable VM"));
    let plug = world
        .vm
        .change(Change::AddInterfaces(vec![world.nic.clone()]))
        .await?;
    let awaited = format!("{NIC} to reach the VMI spec");
    plug.replay(&awaited, |vmi| vmi.has_interface(NIC).then_some(()))
        .await?;
    ctx.step(format!(
        "{NIC} is in the VMI spec; a migration is asked for and, for a quiet window, never starts"
    ));
    // A NIC plugged at once, without the migration, shows in the VMI status: seen as it comes.
    let reported = async {
        let awaited = format!("{NIC} in the VMI status");
        let mac = plug.replay(&awaited, |vmi| vmi.mac_of(NIC)).await?;
        Ok(format!("the VMI status reports {NIC} with MAC {mac}"))
    };
    plug.not_applied(&format!("the hot-plug of {NIC}"), reported)
        .await?;
    let restart = world.vm.vm_condition("RestartRequired").await?;
    anyhow::ensure!(
        restart.as_ref().is_none_or(|c| !c.is_true()),
        "a NIC hot-plugged into a non-migratable VM asked for a restart: {restart:?}"
    );
    let mac = world.mac();
    let reported = world.vm.vmi().await?.mac_of(NIC);
    anyhow::ensure!(
        reported.is_none(),
        "the VMI status reports {NIC} with MAC {reported:?}"
    );
    anyhow::ensure!(!world.guest_has(mac).await?, "the guest got {mac}");
    Ok(())
}

/// Row 4: a NIC with a binding that cannot be hot-plugged is refused, naming the binding.
async fn non_bridge_binding_refused(ctx: Ctx) -> anyhow::Result<()> {
    let world = World::set_up(&ctx, false, 0).await?;
    let masquerade = Nic {
        binding: Binding::Masquerade,
        ..world.nic.clone()
    };
    ctx.step("hot-plug a masquerade NIC on the bridge NAD");
    let refused = world
        .vm
        .refused(Change::AddInterfaces(vec![masquerade]))
        .await?;
    ctx.step(format!("refused: {}", refused.message));
    anyhow::ensure!(
        refused.message.contains("Masquerade"),
        "the refusal does not name the binding: {}",
        refused.message
    );
    anyhow::ensure!(
        !world.vm.template_has_interface(NIC).await?,
        "the refused NIC is in the VM template"
    );
    refused
        .reaction
        .nothing_applied_for(None, Some(NIC))
        .await?;
    let mac = world.mac();
    anyhow::ensure!(!world.guest_has(mac).await?, "the guest got {mac}");
    Ok(())
}

/// Row 5: plugging NICs until the PCIe ports run out. Each NIC arrives through a migration
/// that succeeds; virt-launcher then plugs it into the domain. The first one beyond the free
/// ports is refused by libvirt: virt-handler records a SyncFailed event naming the PCI slots,
/// the NIC never reaches the domain (no MAC in the VMI status), and the existing NICs keep
/// working.
async fn slot_limit(ctx: Ctx) -> anyhow::Result<()> {
    let world = World::set_up(&ctx, false, BOOT_NICS).await?;
    world.plug(&ctx).await?;
    for n in 2..=MAX_PLUGS {
        let name = format!("hot{n}");
        let nic = Nic::bridge(&name, &world.net.nads[0]);
        let plug = world.vm.change(Change::AddInterfaces(vec![nic])).await?;
        let migrated = plug.live_update().await?;
        match world.vm.nic_plug(&name).await? {
            NicPlug::Attached(_) => ctx.step(format!("NIC {n} plugged through {migrated}")),
            NicPlug::Refused(why) => {
                ctx.step(format!("{migrated} succeeded; NIC {n} refused: {why}"));
                anyhow::ensure!(
                    why.contains("PCI"),
                    "the SyncFailed event for NIC {n} does not say that the PCI slots ran out: {why:?}"
                );
                world.vm.interface_stays_unattached(&name).await?;
                world.vm.guest.reconnect().await;
                return world.reaches_peer().await;
            }
        }
    }
    anyhow::bail!("{MAX_PLUGS} NICs were plugged without reaching a slot limit")
}

struct World {
    net: TwoVlans,
    subnet: Subnet,
    vm: Vm,
    /// The NIC to plug, with its MAC and addresses.
    nic: Nic,
}

impl World {
    /// The VLAN, the peer, and the VM under test (non-migratable through a ReadWriteOnce data
    /// disk when asked, and with `boot_nics` more bridge NICs from the start).
    async fn set_up(ctx: &Ctx, non_migratable: bool, boot_nics: usize) -> anyhow::Result<World> {
        let profile = &ctx.target().await?.profile;
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        ctx.step(
            "a Linux bridge trunking the VLANs on every usable node with the NIC, a NAD per VLAN",
        );
        let net = setups::bridged_vlans(&scope, profile).await?;
        ctx.step(format!("VMs kept on the bridged nodes {:?}", net.nodes));
        let subnet = ctx.subnet().await?;
        let peer_nic = Nic::bridge("net1", &net.nads[0]).with_addresses(&subnet.cidrs(PEER));
        let peer = ctx
            .vm("peer", GuestOs::Rhel)
            .await?
            .with_nic(peer_nic)
            .on_nodes(&net.nodes);
        let wanted = Nic::bridge(NIC, &net.nads[0]).with_addresses(&subnet.cidrs(UNDER_TEST));
        let (vm, nic) = ctx.vm(VM, GuestOs::Rhel).await?.awaiting(wanted);
        let mut vm = vm.on_nodes(&net.nodes);
        for n in 1..=boot_nics {
            vm = vm.with_nic(Nic::bridge(&format!("boot{n}"), &net.nads[0]));
        }
        if non_migratable {
            let (name, size) = RWO_DISK;
            let class = profile.storage_class.as_deref();
            scope
                .create(kinds::PVC, storage::rwo_claim(name, size, class))
                .await?;
            vm = vm.with_data_disk(name);
        }
        let mut started = ctx.start_all(&scope, &[peer, vm]).await?;
        let vm = started.pop().expect("two VMs started");
        Ok(World {
            net,
            subnet,
            vm,
            nic,
        })
    }

    /// The MAC the NIC is plugged with.
    fn mac(&self) -> &str {
        self.nic.mac.as_deref().unwrap_or("")
    }

    async fn guest_has(&self, mac: &str) -> anyhow::Result<bool> {
        let interfaces = self.vm.guest.interfaces().await?;
        Ok(interfaces.iter().any(|i| i.mac == mac))
    }

    /// Plugs the NIC and checks it arrived; returns the invariants captured before.
    async fn plug(&self, ctx: &Ctx) -> anyhow::Result<Invariants> {
        let before = self.vm.capture().await?;
        ctx.step(format!("hot-plug {NIC} on {}", self.net.nads[0]));
        let plug = self
            .vm
            .change(Change::AddInterfaces(vec![self.nic.clone()]))
            .await?;
        let migrated = plug.live_update().await?;
        ctx.step(format!("{migrated} carried the hotplug"));
        let mac = self.mac();
        let attached = self.vm.interface_attached(NIC).await?;
        let reported = attached.mac.as_deref().map(str::to_lowercase);
        anyhow::ensure!(
            reported.as_deref() == Some(mac),
            "the VMI status reports MAC {reported:?} for {NIC}, it was plugged with {mac}"
        );
        let arrived = self
            .vm
            .guest
            .addressed_interface(mac, self.vm.budget(Wait::Reaction))
            .await?;
        ctx.step(format!(
            "the guest has {} with {mac} and {:?}",
            arrived.name, arrived.addresses
        ));
        before
            .assert_preserved_besides(&self.vm.guest, &migrated.vmi, &[(NIC, mac)])
            .await?;
        self.reaches_peer().await?;
        Ok(before)
    }

    async fn reaches_peer(&self) -> anyhow::Result<()> {
        for address in self.subnet.addresses(PEER) {
            let budget = self.vm.budget(Wait::Reaction);
            self.vm.guest.assert_reaches(address, budget).await?;
        }
        Ok(())
    }
}

//! stps/sig-network/nic-hotplug.md — hot-plug and hot-unplug of bridge NICs (project-local IDs).
//!
//! Every row starts from the same world: a VLAN bridged on every worker with its NAD, a peer on
//! it, and the VM under test on the pod network only, whose cloud-init already describes the
//! NIC to come (matched by the MAC it will be plugged with).

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{changes_node_networking, declare, Feature, GuestOs, Needs, Scenario};
use crate::cluster::build::{storage, Binding, Nic};
use crate::cluster::migration::{self, Mark};
use crate::cluster::setups::{self, Subnet, TwoVlans};
use crate::cluster::vms::{self, Running};
use crate::cluster::wait::{self, Watch};
use crate::cluster::{kinds, NamespaceKind, Scope, Wait};
use crate::guest::invariants::Invariants;
use crate::runner::Ctx;

const STP: &str = "sig-network/nic-hotplug.md";
const HOTPLUG: Needs = Needs::bridge(&[Feature::NicHotplug]);

pub const SCENARIOS: &[Scenario] = &[
    changes_node_networking(
        Scenario {
            needs: HOTPLUG,
            ..declare(STP, 1, &["VSTP-101"], "hotplug-bridge-nic")
        },
        hotplug_bridge_nic,
    ),
    changes_node_networking(
        Scenario {
            needs: HOTPLUG,
            ..declare(STP, 2, &["VSTP-102"], "unplug-bridge-nic")
        },
        unplug_bridge_nic,
    ),
    changes_node_networking(
        Scenario {
            needs: Needs::bridge(&[Feature::NicHotplug, Feature::NonMigratableStorage]),
            ..declare(STP, 3, &["VSTP-103"], "non-migratable-vm")
        },
        non_migratable_vm,
    ),
    changes_node_networking(
        Scenario {
            needs: HOTPLUG,
            ..declare(STP, 4, &["VSTP-104"], "non-bridge-binding-refused")
        },
        non_bridge_binding_refused,
    ),
    changes_node_networking(
        Scenario {
            needs: HOTPLUG,
            ..declare(STP, 5, &["VSTP-105"], "slot-limit")
        },
        slot_limit,
    ),
];

const VM: &str = "vm-under-test";
const NIC: &str = "hot1";
const UNDER_TEST: u8 = 1;
const PEER: u8 = 10;

/// Row 1: a bridge NIC plugged into a running VM arrives through a migration, with the MAC the
/// VMI reports, and carries traffic to the peer.
fn hotplug_bridge_nic(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let world = World::set_up(&ctx, None, 0).await?;
        world.plug(&ctx).await?;
        Ok(())
    }
    .boxed()
}

/// Row 2: `state: absent` takes the NIC out of the guest, the VMI status, the VMI spec and the
/// VM template, in that order; the peer is no longer reachable.
fn unplug_bridge_nic(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let world = World::set_up(&ctx, None, 0).await?;
        let before = world.plug(&ctx).await?;
        ctx.step(format!("unplug {NIC} with state: absent"));
        let mark = vms::unplug_nic(&world.scope, VM, NIC).await?;
        let order = world.removal_order(&mark).await?;
        anyhow::ensure!(
            order.status <= order.spec,
            "{NIC} left the VMI spec (change {}) before the VMI status (change {})",
            order.spec,
            order.status
        );
        let budget = world.scope.budgets.of(Wait::Reaction);
        Watch::object(world.scope.client(), kinds::VM, world.scope.ns(), VM)
            .until_object(&format!("{NIC} to leave the VM template"), budget, |vm| {
                !has_nic(&vm["spec"]["template"]["spec"], NIC)
            })
            .await?;
        ctx.step(format!(
            "{NIC} left the VMI status, then its spec, then the VM template"
        ));
        let mac = world.nic.mac.as_deref().unwrap_or("");
        let interfaces = world.vm.guest.interfaces().await?;
        anyhow::ensure!(
            !interfaces.iter().any(|i| i.mac == mac),
            "the guest still has {mac}: {interfaces:?}"
        );
        for address in world.subnet.addresses(PEER) {
            world.vm.guest.assert_isolated_from(address).await?;
        }
        let vmi = vms::get(&world.scope, kinds::VMI, VM).await?;
        before
            .assert_preserved_besides(&world.vm.guest, &vmi, &[(NIC, mac)])
            .await
    }
    .boxed()
}

/// Row 3: a VM that cannot migrate keeps its NICs until restarted.
fn non_migratable_vm(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let world = World::set_up(&ctx, Some("scratch"), 0).await?;
        let mark = vms::hotplug_nic(&world.scope, VM, &[&world.nic]).await?;
        let budget = world.scope.budgets.of(Wait::Reaction);
        Watch::object(world.scope.client(), kinds::VM, world.scope.ns(), VM)
            .until_object("the VM to report RestartRequired", budget, |v| {
                wait::condition(v, "RestartRequired") == Some("True")
            })
            .await?;
        ctx.step("RestartRequired; the VMI and the guest must be unchanged");
        world.assert_untouched(&mark).await
    }
    .boxed()
}

/// Row 4: a NIC with a binding that cannot be hot-plugged is refused, naming the binding.
fn non_bridge_binding_refused(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let world = World::set_up(&ctx, None, 0).await?;
        let masquerade = Nic {
            binding: Binding::Masquerade,
            ..world.nic.clone()
        };
        ctx.step("hot-plug a masquerade NIC on the bridge NAD");
        let mark = migration::mark(&world.scope, VM).await?;
        let refused = match vms::hotplug_nic(&world.scope, VM, &[&masquerade]).await {
            Ok(_) => anyhow::bail!("a masquerade NIC on a secondary network was accepted"),
            Err(e) => format!("{e:#}"),
        };
        ctx.step(format!("refused: {refused}"));
        anyhow::ensure!(
            refused.contains("Masquerade"),
            "the refusal does not name the binding: {refused}"
        );
        let vm = vms::get(&world.scope, kinds::VM, VM).await?;
        anyhow::ensure!(
            !has_nic(&vm["spec"]["template"]["spec"], NIC),
            "the refused NIC is in the VM template"
        );
        world.assert_untouched(&mark).await
    }
    .boxed()
}

/// Row 5: plugging NICs until the slots run out; the first one beyond fails with a clear
/// reason and the existing NICs keep working. The VM boots with four secondary NICs, which
/// leaves the fewest free slots, so the limit comes after a few plugs.
fn slot_limit(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let world = World::set_up(&ctx, None, 4).await?;
        world.plug(&ctx).await?;
        for n in 2..=16 {
            let nic = Nic::bridge(&format!("hot{n}"), &world.net.nads[0]);
            let mark = vms::hotplug_nic(&world.scope, VM, &[&nic]).await?;
            let vmim =
                migration::ended_by_kubevirt(&world.scope, &mark, "kubevirt-workload-update-")
                    .await?;
            if vmim["status"]["phase"] == "Failed" {
                let reason = vmim["status"]["migrationState"]["failureReason"]
                    .as_str()
                    .unwrap_or("");
                ctx.step(format!("NIC {n} failed: {reason}"));
                anyhow::ensure!(
                    reason.contains(&format!("hot{n}")) && reason.contains("restart"),
                    "the failure of NIC {n} does not say which NIC and what to do: {reason:?}"
                );
                world.vm.guest.reconnect().await;
                return world.reaches_peer().await;
            }
            ctx.step(format!("NIC {n} plugged"));
        }
        anyhow::bail!("16 NICs were plugged without reaching a slot limit")
    }
    .boxed()
}

/// Where a removal showed first: indexes of the VMI changes in which the NIC was gone.
struct Removal {
    status: usize,
    spec: usize,
}

fn has_nic(spec: &serde_json::Value, name: &str) -> bool {
    let ifaces = spec["domain"]["devices"]["interfaces"].as_array();
    ifaces.into_iter().flatten().any(|i| i["name"] == name)
}

struct World {
    scope: std::sync::Arc<Scope>,
    net: TwoVlans,
    subnet: Subnet,
    vm: Running,
    /// The NIC to plug, with its MAC and addresses.
    nic: Nic,
}

impl World {
    /// The VLAN, the peer, and the VM under test (with a ReadWriteOnce data disk `disk`, which
    /// makes it non-migratable, when given, and `boot_nics` more bridge NICs from the start).
    async fn set_up(ctx: &Ctx, disk: Option<&str>, boot_nics: usize) -> anyhow::Result<World> {
        let profile = &ctx.target().await?.profile;
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        ctx.step("a Linux bridge trunking the VLANs on every worker, a NAD per VLAN");
        let net = setups::bridged_vlans(&scope, profile).await?;
        let subnet = ctx.subnet().await?;
        let peer_nic = Nic::bridge("net1", &net.nads[0]).with_addresses(&subnet.cidrs(PEER));
        let peer = ctx.vm("peer", GuestOs::Rhel).await?.with_nic(peer_nic);
        let wanted = Nic::bridge(NIC, &net.nads[0]).with_addresses(&subnet.cidrs(UNDER_TEST));
        let (mut vm, nic) = ctx.vm(VM, GuestOs::Rhel).await?.awaiting(wanted);
        for n in 1..=boot_nics {
            vm = vm.with_nic(Nic::bridge(&format!("boot{n}"), &net.nads[0]));
        }
        if let Some(claim) = disk {
            let class = profile.storage_class.as_deref();
            scope
                .create(kinds::PVC, storage::rwo_claim(claim, "1Gi", class))
                .await?;
            vm = vm.with_data_disk(claim);
        }
        let mut started = ctx.start_all(&scope, &[peer, vm]).await?;
        let vm = started.pop().expect("two VMs started");
        Ok(World {
            scope,
            net,
            subnet,
            vm,
            nic,
        })
    }

    /// Plugs the NIC and checks it arrived; returns the invariants captured before.
    async fn plug(&self, ctx: &Ctx) -> anyhow::Result<Invariants> {
        let before = Invariants::capture(&self.vm.guest, &self.vm.vmi).await?;
        ctx.step(format!("hot-plug {NIC} on {}", self.net.nads[0]));
        let mark = vms::hotplug_nic(&self.scope, VM, &[&self.nic]).await?;
        let required = migration::condition_cycle(&self.scope, &mark, "MigrationRequired").await?;
        anyhow::ensure!(
            required["reason"] == "AutoMigrationDueToLiveUpdate",
            "MigrationRequired was raised with reason {}",
            required["reason"]
        );
        let done =
            migration::started_by_kubevirt(&self.scope, &mark, "kubevirt-workload-update-").await?;
        ctx.step(format!(
            "workload-update migration {} succeeded",
            done.name()
        ));
        let mac = self.nic.mac.as_deref().unwrap_or("");
        let reported = vms::mac_of(&done.vmi, NIC);
        anyhow::ensure!(
            reported.as_deref() == Some(mac),
            "the VMI status reports MAC {reported:?} for {NIC}, it was plugged with {mac}"
        );
        let arrived = self.vm.guest.interface_with_mac(mac).await?;
        ctx.step(format!("the guest has {} with {mac}", arrived.name));
        before
            .assert_preserved_besides(&self.vm.guest, &done.vmi, &[(NIC, mac)])
            .await?;
        self.reaches_peer().await?;
        Ok(before)
    }

    async fn reaches_peer(&self) -> anyhow::Result<()> {
        for address in self.subnet.addresses(PEER) {
            self.vm.guest.assert_reaches(address).await?;
        }
        Ok(())
    }

    /// Replays the VMI's changes since `mark` until the NIC is gone from both its status and
    /// its spec; says in which change each happened.
    async fn removal_order(&self, mark: &Mark) -> anyhow::Result<Removal> {
        let (mut change, mut status, mut spec) = (0, None, None);
        let budget = self.scope.budgets.of(Wait::Migration);
        Watch::object(self.scope.client(), kinds::VMI, self.scope.ns(), VM)
            .since(&mark.since)
            .until(&format!("{NIC} to leave the VMI"), budget, |seen| {
                let vmi = seen.get(VM)?;
                change += 1;
                if status.is_none() && vms::mac_of(vmi, NIC).is_none() {
                    status = Some(change);
                }
                if spec.is_none() && !has_nic(&vmi["spec"], NIC) {
                    spec = Some(change);
                }
                Some(Removal {
                    status: status?,
                    spec: spec?,
                })
            })
            .await
            .map_err(Into::into)
    }

    /// The VMI spec, the guest and the migrations are as they were at `mark`.
    async fn assert_untouched(&self, mark: &Mark) -> anyhow::Result<()> {
        let vmi = vms::get(&self.scope, kinds::VMI, VM).await?;
        anyhow::ensure!(!has_nic(&vmi["spec"], NIC), "{NIC} reached the VMI spec");
        let mac = self.nic.mac.as_deref().unwrap_or("");
        let interfaces = self.vm.guest.interfaces().await?;
        anyhow::ensure!(
            !interfaces.iter().any(|i| i.mac == mac),
            "the guest got {mac}: {interfaces:?}"
        );
        let migrations = migration::since(&self.scope, mark).await?;
        anyhow::ensure!(migrations.is_empty(), "migrations ran: {migrations:?}");
        Ok(())
    }
}

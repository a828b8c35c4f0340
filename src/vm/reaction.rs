//! What follows a change to a running VM: the reaction is watched from the mark the handle took
//! just before the change, so every step of it (a condition raised and cleared, a migration
//! started, a spec updated) is replayed in order and none is mistaken for an older one.
//!
//! ```no_run
//! # async fn example(vm: vstp::vm::Vm) -> anyhow::Result<()> {
//! use vstp::vm::{Change, Trigger};
//!
//! // A VM that cannot migrate: the swap waits for a restart, and nothing is applied live.
//! let swap = vm.change(Change::networks([("net1", "vlan20")])).await?;
//! swap.vm_condition("RestartRequired").await?;
//! swap.nothing_applied_for(Some(("net1", "vlan10")), None).await?;
//!
//! // A drain moves the VM through the evacuation controller's migration.
//! let (drained, evacuation) = vm.drain_its_node().await?;
//! let migrated = evacuation.migrated_by(Trigger::Evacuation).await?;
//! assert_ne!(migrated.to, drained.node);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use super::migration::{self, Ended, Mark, Migrated, Trigger};
use super::status::{Condition, Vmi};
use crate::cluster::budget::Wait;
use crate::cluster::kinds;
use crate::cluster::scope::Scope;
use crate::cluster::wait::condition::{conditions, is};
use crate::cluster::wait::{WaitError, Watch};

/// The reason KubeVirt gives MigrationRequired when a live update needs a migration.
pub const LIVE_UPDATE_REASON: &str = "AutoMigrationDueToLiveUpdate";

/// How long nothing must happen before "nothing happened" is believed, on a real cluster: two
/// of the workload updater's re-enqueue periods (`periodicReEnqueueIntervalSeconds = 30` in
/// kubevirt `pkg/virt-controller/watch/workload-updater/workload-updater.go`), so an updater
/// that would migrate the VMI has had two chances to.
pub const QUIET_WINDOW: Duration = Duration::from_secs(60);

pub struct Reaction {
    pub(super) scope: Arc<Scope>,
    pub(super) mark: Mark,
    /// What the VMI condition that announces the migration is called, for a live update.
    pub(super) announced_by: Option<&'static str>,
}

/// Whether the template of VM object `vm` lists interface `iface`.
pub fn template_has_interface(vm: &serde_json::Value, iface: &str) -> bool {
    let interfaces = vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].as_array();
    interfaces.into_iter().flatten().any(|i| i["name"] == iface)
}

impl Reaction {
    /// The VMI as it was just before the change.
    pub fn before(&self) -> &Vmi {
        &self.mark.vmi
    }

    /// A live update carried out as KubeVirt does it: the VMI condition announcing it is raised
    /// (MigrationRequired with reason AutoMigrationDueToLiveUpdate for networks and NICs,
    /// HotVCPUChange or HotMemoryChange for sizes) and cleared, and the workload updater's
    /// migration succeeds and is confirmed.
    pub async fn live_update(&self) -> anyhow::Result<Migrated> {
        if let Some(kind) = self.announced_by {
            let failed = migration::first_failure(&self.scope, &self.mark, Trigger::WorkloadUpdate);
            let raised = tokio::select! {
                raised = self.condition_cycle(kind) => raised?,
                failure = failed => return Err(failure),
            };
            if kind == "MigrationRequired" {
                anyhow::ensure!(
                    raised.reason == LIVE_UPDATE_REASON,
                    "MigrationRequired was raised with reason {:?}, expected {LIVE_UPDATE_REASON}",
                    raised.reason
                );
            }
        }
        self.migrated_by(Trigger::WorkloadUpdate).await
    }

    /// The first migration `trigger` started after the mark, required to succeed, confirmed.
    pub async fn migrated_by(&self, trigger: Trigger) -> anyhow::Result<Migrated> {
        migration::migrated_by(&self.scope, &self.mark, trigger).await
    }

    /// The first migration `trigger` started after the mark, in its final phase.
    pub async fn migration_ended(&self, trigger: Trigger) -> anyhow::Result<Ended> {
        migration::ended_by(&self.scope, &self.mark, trigger).await
    }

    /// The migrations of the VMI created since the mark, by name.
    pub async fn migrations(&self) -> anyhow::Result<Vec<String>> {
        migration::since(&self.scope, &self.mark).await
    }

    /// Waits until VMI condition `kind` is True at some point after the mark and then no longer
    /// is; returns the condition as it was while set.
    pub async fn condition_cycle(&self, kind: &str) -> anyhow::Result<Condition> {
        migration::condition_cycle(&self.scope, &self.mark, kind).await
    }

    /// Waits until VMI condition `kind` is True after the mark; returns it as set.
    pub async fn condition_set(&self, kind: &str) -> anyhow::Result<Condition> {
        let name = self.mark.name();
        self.replay(
            &format!("condition {kind} on VMI {name} to be set"),
            |vmi| vmi.condition(kind).filter(|c| c.is_true()).cloned(),
        )
        .await
    }

    /// KubeVirt asks for the migration that applies the change (VMI condition MigrationRequired,
    /// reason AutoMigrationDueToLiveUpdate) and, over a quiet window, still asks and never gets
    /// one: the workload updater migrates only live-migratable VMIs (upstream
    /// `workload-updater.go`), so the change stays in the VMI spec and out of the guest.
    pub async fn migration_required_but_not_started(&self) -> anyhow::Result<()> {
        let required = self.condition_set("MigrationRequired").await?;
        anyhow::ensure!(
            required.reason == LIVE_UPDATE_REASON,
            "MigrationRequired was raised with reason {:?}, expected {LIVE_UPDATE_REASON}",
            required.reason
        );
        let scope = &self.scope;
        let window = scope.budgets.window(QUIET_WINDOW);
        let still_required = conditions::condition_true("MigrationRequired");
        let asks = Watch::object(scope.client(), kinds::VMI, scope.ns(), self.mark.name())
            .keeps(&still_required, window);
        futures::try_join!(asks, self.no_new_migration(window))?;
        Ok(())
    }

    /// [`Self::migration_required_but_not_started`], ended at once when `applied` shows the
    /// change reached the VM anyway (it returns what it saw): applied live, or carried by a
    /// migration a non-migratable VMI must not get. `change` names the change for the message.
    pub async fn not_applied(
        &self,
        change: &str,
        applied: impl std::future::Future<Output = anyhow::Result<String>>,
    ) -> anyhow::Result<()> {
        let applied = async {
            match applied.await {
                Ok(seen) => seen,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            quiet = self.migration_required_but_not_started() => quiet,
            seen = applied => {
                let migrations = self.migrations().await?;
                anyhow::ensure!(
                    !migrations.is_empty(),
                    "{seen} and no migration ran: {change} was applied live to a non-migratable VM"
                );
                anyhow::bail!("the non-migratable VM was migrated ({migrations:?}): {seen}")
            }
        }
    }

    async fn no_new_migration(&self, window: Duration) -> Result<(), WaitError> {
        let (scope, name) = (&self.scope, self.mark.name());
        let quiet = format!("no new migration of {name}");
        Watch::all(scope.client(), kinds::VMIM, scope.ns())
            .labels(&format!("kubevirt.io/vmi-name={name}"))
            .holds_for(&quiet, window, |seen| {
                seen.keys().all(|m| self.mark.earlier.contains(m))
            })
            .await
    }

    /// Replays the VMI's changes since the mark until `check` returns something.
    pub async fn replay<T>(
        &self,
        awaited: &str,
        mut check: impl FnMut(&Vmi) -> Option<T>,
    ) -> anyhow::Result<T> {
        let name = self.mark.name();
        self.vmi_watch()
            .until(awaited, self.scope.budget(Wait::Migration), |seen| {
                check(&Vmi::from_value(seen.get(name)?).ok()?)
            })
            .await
            .map_err(Into::into)
    }

    /// The VM (not the VMI) reports condition `kind` True: RestartRequired for a change that
    /// cannot be applied live.
    pub async fn vm_condition(&self, kind: &'static str) -> anyhow::Result<()> {
        let scope = &self.scope;
        Watch::object(scope.client(), kinds::VM, scope.ns(), self.mark.name())
            .until_met(
                &conditions::condition_true(kind),
                scope.budget(Wait::Reaction),
            )
            .await?;
        Ok(())
    }

    /// Over a quiet window on the target's clock, no migration of the VMI is created and its
    /// spec keeps naming `nad` for `network` and lacking interface `absent` (whichever given):
    /// what a change that must not be applied live leaves alone.
    pub async fn nothing_applied_for(
        &self,
        network: Option<(&str, &str)>,
        absent: Option<&str>,
    ) -> anyhow::Result<()> {
        let scope = &self.scope;
        let window = scope.budgets.window(QUIET_WINDOW);
        let name = self.mark.name();
        let unchanged = is(format!("VMI {name} keeps its spec"), move |o| {
            let Ok(vmi) = Vmi::from_value(o) else {
                return false;
            };
            network.is_none_or(|(n, nad)| vmi.network_of(n) == Some(nad))
                && absent.is_none_or(|i| !vmi.has_interface(i))
        });
        let no_migration = self.no_new_migration(window);
        let spec_kept =
            Watch::object(scope.client(), kinds::VMI, scope.ns(), name).keeps(&unchanged, window);
        futures::try_join!(no_migration, spec_kept)?;
        Ok(())
    }

    /// The VM template no longer has interface `iface` (the last step of a hot-unplug).
    pub async fn interface_leaves_template(&self, iface: &str) -> anyhow::Result<()> {
        let scope = &self.scope;
        let gone = is(format!("{iface} to leave the VM template"), |vm| {
            !template_has_interface(vm, iface)
        });
        Watch::object(scope.client(), kinds::VM, scope.ns(), self.mark.name())
            .until_met(&gone, scope.budget(Wait::Reaction))
            .await?;
        Ok(())
    }

    /// Waits until a virt-launcher pod of the marked VMI that is not a migration's target
    /// lists NAD `nad` in its Multus `network-status`; returns the pod's name. A pod's networks
    /// are fixed when it starts, so this is a change applied without a migration.
    pub async fn launcher_attaches(&self, nad: &str) -> anyhow::Result<String> {
        let scope = &self.scope;
        let uid = &self.mark.vmi.metadata.uid;
        let suffix = format!("/{nad}");
        let lists = |pod: &serde_json::Value| {
            // A target pod carries its migration's UID (kubevirt `v1.MigrationJobLabel`).
            if !pod["metadata"]["labels"]["kubevirt.io/migrationJobUID"].is_null() {
                return false;
            }
            let status = pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"]
                .as_str()
                .and_then(|s| serde_json::from_str::<Vec<serde_json::Value>>(s).ok());
            status.into_iter().flatten().any(|n| {
                n["name"]
                    .as_str()
                    .is_some_and(|n| n == nad || n.ends_with(&suffix))
            })
        };
        Watch::all(scope.client(), kinds::POD, scope.ns())
            .labels(&format!("kubevirt.io/created-by={uid}"))
            .until(
                &format!("a launcher pod of VMI {} to attach {nad}", self.mark.name()),
                scope.budget(Wait::Migration),
                |seen| seen.iter().find(|(_, p)| lists(p)).map(|(n, _)| n.clone()),
            )
            .await
            .map_err(Into::into)
    }

    fn vmi_watch(&self) -> Watch {
        let scope = &self.scope;
        Watch::object(scope.client(), kinds::VMI, scope.ns(), self.mark.name())
            .since(self.mark.version())
            .failing_on(migration::vmi_lost(&self.mark.vmi.metadata.uid))
    }
}

//! stps/sig-virt/workload-disruption-migration.md — AWD migrations in PostCopy and Paused mode.
//!
//! Every row starts from the same world: a MigrationPolicy that allows workload disruption,
//! caps the bandwidth and gives a tight completion timeout, selecting only this scenario's VM;
//! the VM runs a memory dirtier re-writing every page of its buffer faster than the policy's
//! bandwidth can send them, so its migration cannot converge by pre-copy and must switch to
//! the policy's mode; a sentinel process whose PID must survive.

use std::sync::Arc;

use super::scenario::{Attach, Scenario};
use crate::cluster::build::{MigrationPolicy, VmSpec};
use crate::cluster::kinds;
use crate::cluster::scope::{NamespaceKind, Scope, RUN_LABEL, SCENARIO_LABEL};
use crate::cluster::{cordon, drain};
use crate::ctx::Ctx;
use crate::guest::os::GuestOs;
use crate::plan::{row, Declaration, Feature, Needs};
use crate::vm::status::bytes;
use crate::vm::{Change, Invariants, Migrated, MigrationMode, Trigger, Vm};

const STP: &str = "sig-virt/workload-disruption-migration.md";
const AWD: &[Feature] = &[Feature::WorkloadDisruptionPolicy];

const fn awd_row(n: usize, id: &'static [&'static str], slug: &'static str) -> Declaration {
    row(STP, n, slug).ids(id).needs(Needs::migration(AWD))
}

pub fn scenarios() -> Vec<Scenario> {
    use {GuestOs::*, MigrationMode::*};
    let windows_awd = Needs::migration(&[Feature::WorkloadDisruptionPolicy, Feature::WindowsImage]);
    vec![
        awd_row(1, &["CNV-15225"], "rhel-postcopy")
            .parameters(&[("migration_mode", "PostCopy")])
            .body(|ctx| async move { migrate_busy(&ctx, Rhel, PostCopy).await }),
        awd_row(1, &["CNV-15225"], "rhel-paused")
            .parameters(&[("migration_mode", "Paused")])
            .body(|ctx| async move { migrate_busy(&ctx, Rhel, Paused).await }),
        awd_row(2, &["CNV-15246"], "windows-postcopy")
            .parameters(&[("migration_mode", "PostCopy")])
            .windows()
            .needs(windows_awd)
            .body(|ctx| async move { migrate_busy(&ctx, Windows, PostCopy).await }),
        awd_row(2, &["CNV-15246"], "windows-paused")
            .parameters(&[("migration_mode", "Paused")])
            .windows()
            .needs(windows_awd)
            .body(|ctx| async move { migrate_busy(&ctx, Windows, Paused).await }),
        awd_row(3, &["CNV-15245"], "rhel-drain")
            .needs(Needs::migration(&[
                Feature::WorkloadDisruptionPolicy,
                Feature::NodeDrain,
            ]))
            .disruptive()
            .body(rhel_drain),
        awd_row(4, &["CNV-15234"], "rhel-cpu-hotplug")
            .needs(Needs::migration(&[
                Feature::WorkloadDisruptionPolicy,
                Feature::CpuHotplug,
            ]))
            .body(|ctx| async move { cpu_hotplug(&ctx, Rhel).await }),
        awd_row(5, &["CNV-15247"], "windows-cpu-hotplug")
            .windows()
            .needs(Needs::migration(&[
                Feature::WorkloadDisruptionPolicy,
                Feature::CpuHotplug,
                Feature::WindowsImage,
            ]))
            .body(|ctx| async move { cpu_hotplug(&ctx, Windows).await }),
        awd_row(6, &["CNV-15235"], "rhel-memory-hotplug")
            .needs(Needs::migration(&[
                Feature::WorkloadDisruptionPolicy,
                Feature::MemoryHotplug,
            ]))
            .body(|ctx| async move { memory_hotplug(&ctx, Rhel).await }),
        awd_row(7, &["CNV-16312"], "windows-memory-hotplug")
            .windows()
            .needs(Needs::migration(&[
                Feature::WorkloadDisruptionPolicy,
                Feature::MemoryHotplug,
                Feature::WindowsImage,
            ]))
            .body(|ctx| async move { memory_hotplug(&ctx, Windows).await }),
    ]
}

const VM: &str = "busy-vm";
/// The memory the dirtier keeps re-writing, in MiB: enough that pre-copy cannot converge.
const DIRTIED_MIB: u32 = 350;
/// The policy's bandwidth cap and completion timeout (seconds per GiB of guest memory).
const BANDWIDTH: &str = "64Mi";
const COMPLETION_TIMEOUT_PER_GIB: u64 = 10;
/// CPU hotplug: from one socket to two, out of at most four.
const SOCKETS: (u32, u32) = (1, 2);
const MAX_SOCKETS: u32 = 4;
/// Memory hotplug: the guest boots with 2Gi (of at most 8Gi) and gets 4Gi.
const MEMORY_AT_BOOT: &str = "2Gi";
const MAX_MEMORY: &str = "8Gi";
const MEMORY_AFTER: &str = "4Gi";
const GIB: u64 = 1 << 30;
/// The guest sees a little less than it was given (the kernel keeps some), so of the 2 GiB
/// added at least 1.875 GiB must show.
const ADDED_MEMORY_VISIBLE: u64 = 2 * GIB - GIB / 8;

/// Row 1 (RHEL) and row 2 (Windows): the migration of a busy VM ends in the policy's mode:
/// PostCopy when post-copy is allowed, Paused when it is not.
async fn migrate_busy(ctx: &Ctx, os: GuestOs, mode: MigrationMode) -> anyhow::Result<()> {
    let busy = Busy::start(ctx, os, mode, |vm| vm).await?;
    busy.still_dirtying().await?;
    ctx.step("migrate the busy VM");
    let migrated = busy.vm.migrate().await?;
    busy.assert_finished_in_mode(ctx, &migrated).await
}

/// Row 3: draining the busy VM's node moves it in the policy's mode. The drain meets what
/// runs beside the VM (DaemonSet pods stay, other pods are evicted and come back elsewhere,
/// their disruption budgets permitting); only the VM is checked. After the uncordon KubeVirt
/// is Available again.
async fn rhel_drain(ctx: Ctx) -> anyhow::Result<()> {
    let busy = Busy::start(&ctx, GuestOs::Rhel, MigrationMode::PostCopy, |vm| vm).await?;
    busy.still_dirtying().await?;
    ctx.step(format!(
        "drain {} through the eviction API",
        busy.vm.booted_on()
    ));
    let (drained, evacuation) = busy.vm.drain_its_node().await?;
    ctx.step(format!(
        "evicted launcher pods {:?}; moved {:?}; left DaemonSet pods {:?}",
        drained.launchers, drained.others, drained.daemons
    ));
    let migrated = evacuation.migrated_by(Trigger::Evacuation).await?;
    busy.assert_finished_in_mode(&ctx, &migrated).await?;
    let node = &drained.node;
    ctx.step(format!("uncordon {node}; wait until KubeVirt is Available"));
    drain::uncordon_and_settle(&busy.scope, node).await?;
    anyhow::ensure!(
        !cordon::is_cordoned(busy.scope.client(), node).await?,
        "{node} is still cordoned after uncordon"
    );
    Ok(())
}

/// Rows 4 and 5: one more CPU socket on a busy VM, applied by a migration in the policy's mode.
async fn cpu_hotplug(ctx: &Ctx, os: GuestOs) -> anyhow::Result<()> {
    let (from, to) = SOCKETS;
    let shape = |vm: VmSpec| vm.with_cpu(from, MAX_SOCKETS);
    let busy = Busy::start(ctx, os, MigrationMode::Paused, shape).await?;
    let cpus = busy.vm.guest.cpu_count().await?;
    ctx.step(format!(
        "the guest counts {cpus} CPU(s); raise sockets from {from} to {to}"
    ));
    let migrated = busy.hotplug(ctx, Change::CpuSockets(to)).await?;
    let sockets = migrated.vmi.sockets();
    anyhow::ensure!(
        sockets == Some(to),
        "VMI currentCPUTopology has {sockets:?} sockets after the hotplug, expected {to}"
    );
    let now = busy.vm.guest.cpu_count().await?;
    anyhow::ensure!(
        now == cpus / from * to,
        "the guest counts {now} CPUs after going from {from} to {to} sockets (was {cpus})"
    );
    Ok(())
}

/// Rows 6 and 7: more guest memory on a busy VM, applied by a migration in the policy's mode.
async fn memory_hotplug(ctx: &Ctx, os: GuestOs) -> anyhow::Result<()> {
    let shape = |vm: VmSpec| vm.with_memory(MEMORY_AT_BOOT, MAX_MEMORY);
    let busy = Busy::start(ctx, os, MigrationMode::Paused, shape).await?;
    let seen = busy.vm.guest.memory_bytes().await?;
    ctx.step(format!(
        "the guest sees {seen} bytes; raise guest memory from {MEMORY_AT_BOOT} to {MEMORY_AFTER}"
    ));
    let change = Change::GuestMemory(MEMORY_AFTER.into());
    busy.hotplug(ctx, change).await?;
    let requested = bytes(MEMORY_AFTER).unwrap_or(u64::MAX);
    let current = busy.vm.guest_memory_reaches(requested).await?;
    anyhow::ensure!(
        current == requested,
        "VMI status.memory.guestCurrent is {current} bytes after the hotplug, expected {MEMORY_AFTER}"
    );
    let now = busy.vm.guest.memory_bytes().await?;
    anyhow::ensure!(
        now >= seen + ADDED_MEMORY_VISIBLE,
        "the guest sees {now} bytes after the hotplug, {seen} before: the added memory does not show"
    );
    Ok(())
}

/// A running busy VM under an AWD policy, with its invariants captured.
struct Busy {
    scope: Arc<Scope>,
    vm: Vm,
    policy: String,
    mode: MigrationMode,
    before: Invariants,
    /// The memory dirtier's PID: without it running, a pre-copy migration converges and
    /// the mode reads like a product regression.
    dirtier: u32,
}

impl Busy {
    async fn start(
        ctx: &Ctx,
        os: GuestOs,
        mode: MigrationMode,
        shape: impl FnOnce(VmSpec) -> VmSpec,
    ) -> anyhow::Result<Busy> {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let policy = scope.cluster_name("vstp-awd");
        let post_copy = mode == MigrationMode::PostCopy;
        ctx.step(format!(
            "MigrationPolicy {policy}: AWD, post-copy {post_copy}, {BANDWIDTH}/s, {COMPLETION_TIMEOUT_PER_GIB} s per GiB"
        ));
        let spec = MigrationPolicy::named(&policy)
            .workload_disruption(post_copy)
            .throttled(BANDWIDTH, COMPLETION_TIMEOUT_PER_GIB)
            .selecting_vmis("vstp.io/vm", VM)
            .selecting_namespaces(RUN_LABEL, scope.run_id())
            .selecting_namespaces(SCENARIO_LABEL, &scope.labels()[SCENARIO_LABEL]);
        scope.create(kinds::MIGRATION_POLICY, spec.build()).await?;
        let vm = ctx.start(&scope, &shape(ctx.vm(VM, os).await?)).await?;
        let how = ctx.rhel_dirtier().await?;
        let dirtier = vm.guest.start_memory_dirtier_with(how, DIRTIED_MIB).await?;
        ctx.step(format!("memory dirtier running as PID {dirtier}"));
        let before = vm.capture().await?;
        ctx.step(format!("sentinel PID {}", before.sentinel));
        Ok(Busy {
            scope,
            vm,
            policy,
            mode,
            before,
            dirtier,
        })
    }

    /// The dirtier still runs, right before the migration it must keep from converging.
    async fn still_dirtying(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.vm.guest.alive(self.dirtier).await?,
            "the memory dirtier (PID {}) of {} no longer runs: a migration now would converge in              pre-copy whatever the policy",
            self.dirtier,
            self.vm.name()
        );
        Ok(())
    }

    /// Makes `change` and follows the workload-update migration that applies it.
    async fn hotplug(&self, ctx: &Ctx, change: Change) -> anyhow::Result<Migrated> {
        self.still_dirtying().await?;
        let migrated = self.vm.change(change).await?.live_update().await?;
        self.assert_finished_in_mode(ctx, &migrated).await?;
        Ok(migrated)
    }

    /// The migration ran under our policy and ended in the expected mode (read for its own
    /// UID); a Paused migration paused the guest and unpaused it; nothing the guest must keep
    /// broke.
    async fn assert_finished_in_mode(&self, ctx: &Ctx, migrated: &Migrated) -> anyhow::Result<()> {
        anyhow::ensure!(
            migrated.policy.as_deref() == Some(self.policy.as_str()),
            "{migrated} ran under policy {:?}, expected {}",
            migrated.policy,
            self.policy
        );
        ctx.step(format!("{migrated} ended in mode {:?}", migrated.mode));
        anyhow::ensure!(
            migrated.mode == Some(self.mode),
            "{migrated} ran in mode {:?}, expected {:?}",
            migrated.mode,
            self.mode
        );
        if self.mode == MigrationMode::Paused {
            migrated.paused_and_resumed().await?;
            ctx.step("the VMI was Paused during the migration and is not any more");
        }
        self.before
            .assert_preserved(&self.vm.guest, &migrated.vmi)
            .await
    }
}

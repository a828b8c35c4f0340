//! stps/sig-virt/workload-disruption-migration.md — AWD migrations in PostCopy and Paused mode.
//!
//! Every row starts from the same world: a MigrationPolicy that allows workload disruption,
//! caps the bandwidth (64 MiB/s) and gives a tight completion timeout (10 s per GiB), selecting
//! only this scenario's VM; the VM runs a memory dirtier re-writing 350 MiB at about 1 GiB/s,
//! so its migration cannot converge by pre-copy and must switch to the policy's mode; a
//! sentinel process whose PID must survive.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::json;

use super::{automated, declare, Feature, GuestOs, Needs, Scenario};
use crate::cluster::build::{MigrationPolicy, Vm};
use crate::cluster::migration::{self, Finished};
use crate::cluster::scope::{RUN_LABEL, SCENARIO_LABEL};
use crate::cluster::vms::{self, Running};
use crate::cluster::{kinds, nodes, NamespaceKind, Scope, Wait};
use crate::guest::invariants::Invariants;
use crate::runner::Ctx;

const STP: &str = "sig-virt/workload-disruption-migration.md";
const AWD: Needs = Needs::migration(&[Feature::WorkloadDisruptionPolicy]);
const AWD_WINDOWS: Needs =
    Needs::migration(&[Feature::WorkloadDisruptionPolicy, Feature::WindowsImage]);

/// Windows guests boot and migrate slowly; their budget is larger.
const fn windows(scenario: Scenario) -> Scenario {
    Scenario {
        os: GuestOs::Windows,
        budget: Duration::from_secs(40 * 60),
        ..scenario
    }
}

pub const SCENARIOS: &[Scenario] = &[
    automated(
        Scenario {
            needs: AWD,
            ..declare(STP, 1, &["CNV-15225"], "rhel-postcopy")
        },
        rhel_postcopy,
    ),
    automated(
        Scenario {
            needs: AWD,
            ..declare(STP, 1, &["CNV-15225"], "rhel-paused")
        },
        rhel_paused,
    ),
    automated(
        windows(Scenario {
            needs: AWD_WINDOWS,
            ..declare(STP, 2, &["CNV-15246"], "windows-postcopy")
        }),
        windows_postcopy,
    ),
    automated(
        windows(Scenario {
            needs: AWD_WINDOWS,
            ..declare(STP, 2, &["CNV-15246"], "windows-paused")
        }),
        windows_paused,
    ),
    automated(
        Scenario {
            needs: AWD,
            disruptive: true,
            ..declare(STP, 3, &["CNV-15245"], "rhel-drain")
        },
        rhel_drain,
    ),
    automated(
        Scenario {
            needs: Needs::migration(&[Feature::WorkloadDisruptionPolicy, Feature::CpuHotplug]),
            ..declare(STP, 4, &["CNV-15234"], "rhel-cpu-hotplug")
        },
        rhel_cpu_hotplug,
    ),
    automated(
        windows(Scenario {
            needs: Needs::migration(&[
                Feature::WorkloadDisruptionPolicy,
                Feature::CpuHotplug,
                Feature::WindowsImage,
            ]),
            ..declare(STP, 5, &["CNV-15247"], "windows-cpu-hotplug")
        }),
        windows_cpu_hotplug,
    ),
    automated(
        Scenario {
            needs: Needs::migration(&[Feature::WorkloadDisruptionPolicy, Feature::MemoryHotplug]),
            ..declare(STP, 6, &["CNV-15235"], "rhel-memory-hotplug")
        },
        rhel_memory_hotplug,
    ),
    automated(
        windows(Scenario {
            needs: Needs::migration(&[
                Feature::WorkloadDisruptionPolicy,
                Feature::MemoryHotplug,
                Feature::WindowsImage,
            ]),
            ..declare(STP, 7, &["CNV-16312"], "windows-memory-hotplug")
        }),
        windows_memory_hotplug,
    ),
];

const VM: &str = "busy-vm";

/// The mode a migration that cannot converge must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    PostCopy,
    Paused,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::PostCopy => "PostCopy",
            Mode::Paused => "Paused",
        }
    }
}

/// Row 1, post-copy allowed: the migration of a busy RHEL VM ends in PostCopy.
fn rhel_postcopy(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { migrate_busy(&ctx, GuestOs::Rhel, Mode::PostCopy).await }.boxed()
}

/// Row 1, post-copy not allowed: the guest is paused to finish.
fn rhel_paused(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { migrate_busy(&ctx, GuestOs::Rhel, Mode::Paused).await }.boxed()
}

/// Row 2: the same two modes on a Windows VM.
fn windows_postcopy(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { migrate_busy(&ctx, GuestOs::Windows, Mode::PostCopy).await }.boxed()
}

fn windows_paused(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { migrate_busy(&ctx, GuestOs::Windows, Mode::Paused).await }.boxed()
}

async fn migrate_busy(ctx: &Ctx, os: GuestOs, mode: Mode) -> anyhow::Result<()> {
    let busy = Busy::start(ctx, os, mode, |vm| vm).await?;
    ctx.step("migrate the busy VM");
    let mark = migration::mark(&busy.scope, VM).await?;
    let done = migration::migrate(&busy.scope, VM).await?;
    busy.assert_finished_in_mode(ctx, &mark, &done).await
}

/// Row 3: draining the busy VM's node moves it in the policy's mode; the node is uncordoned.
fn rhel_drain(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let busy = Busy::start(&ctx, GuestOs::Rhel, Mode::PostCopy, |vm| vm).await?;
        let node = busy.vm.node().to_string();
        ctx.step(format!("drain {node} through the eviction API"));
        let mark = migration::mark(&busy.scope, VM).await?;
        nodes::drain(&busy.scope, &node, busy.scope.budgets.of(Wait::Drain)).await?;
        let done =
            migration::started_by_kubevirt(&busy.scope, &mark, "kubevirt-evacuation-").await?;
        busy.assert_finished_in_mode(&ctx, &mark, &done).await?;
        ctx.step(format!("uncordon {node}"));
        nodes::uncordon(busy.scope.client(), &node).await?;
        anyhow::ensure!(
            !nodes::is_cordoned(busy.scope.client(), &node).await?,
            "{node} is still cordoned after uncordon"
        );
        Ok(())
    }
    .boxed()
}

/// Row 4: one more CPU socket on a busy VM, applied by a migration in the policy's mode.
fn rhel_cpu_hotplug(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { cpu_hotplug(&ctx, GuestOs::Rhel).await }.boxed()
}

/// Row 5: the same on a Windows VM.
fn windows_cpu_hotplug(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { cpu_hotplug(&ctx, GuestOs::Windows).await }.boxed()
}

async fn cpu_hotplug(ctx: &Ctx, os: GuestOs) -> anyhow::Result<()> {
    let busy = Busy::start(ctx, os, Mode::Paused, |vm| vm.with_cpu(1, 4)).await?;
    let cpus = busy.vm.guest.cpu_count().await?;
    ctx.step(format!(
        "the guest counts {cpus} CPU(s); raise sockets from 1 to 2"
    ));
    let patch = json!({"spec": {"template": {"spec": {"domain": {"cpu": {"sockets": 2}}}}}});
    let done = busy.hotplug(ctx, &patch).await?;
    let topology = &done.vmi["status"]["currentCPUTopology"];
    anyhow::ensure!(
        topology["sockets"] == 2,
        "VMI currentCPUTopology is {topology} after the hotplug, expected 2 sockets"
    );
    let now = busy.vm.guest.cpu_count().await?;
    anyhow::ensure!(
        now == cpus * 2,
        "the guest counts {now} CPUs after going from 1 to 2 sockets (was {cpus})"
    );
    Ok(())
}

/// Row 6: more guest memory on a busy VM, applied by a migration in the policy's mode.
fn rhel_memory_hotplug(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { memory_hotplug(&ctx, GuestOs::Rhel).await }.boxed()
}

/// Row 7: the same on a Windows VM.
fn windows_memory_hotplug(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { memory_hotplug(&ctx, GuestOs::Windows).await }.boxed()
}

async fn memory_hotplug(ctx: &Ctx, os: GuestOs) -> anyhow::Result<()> {
    let shape = |vm: Vm| vm.with_memory("2Gi", "8Gi");
    let busy = Busy::start(ctx, os, Mode::Paused, shape).await?;
    let bytes = busy.vm.guest.memory_bytes().await?;
    ctx.step(format!(
        "the guest sees {bytes} bytes; raise guest memory from 2Gi to 4Gi"
    ));
    let patch = json!({"spec": {"template": {"spec": {"domain": {"memory": {"guest": "4Gi"}}}}}});
    let done = busy.hotplug(ctx, &patch).await?;
    let current = &done.vmi["status"]["memory"]["guestCurrent"];
    anyhow::ensure!(
        current == "4Gi",
        "VMI status.memory.guestCurrent is {current} after the hotplug, expected 4Gi"
    );
    let now = busy.vm.guest.memory_bytes().await?;
    // The guest sees a little less than it was given (the kernel keeps some); the 2 GiB
    // added must show.
    anyhow::ensure!(
        now >= bytes + (15 << 27),
        "the guest sees {now} bytes after the hotplug, {bytes} before: the added 2Gi do not show"
    );
    Ok(())
}

/// A running busy VM under an AWD policy, with its invariants captured.
struct Busy {
    scope: std::sync::Arc<Scope>,
    vm: Running,
    policy: String,
    mode: Mode,
    before: Invariants,
}

impl Busy {
    async fn start(
        ctx: &Ctx,
        os: GuestOs,
        mode: Mode,
        shape: impl FnOnce(Vm) -> Vm,
    ) -> anyhow::Result<Busy> {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let policy = scope.cluster_name("vstp-awd");
        ctx.step(format!(
            "MigrationPolicy {policy}: AWD, post-copy {}, 64Mi/s, 10 s per GiB",
            mode == Mode::PostCopy
        ));
        let spec = MigrationPolicy::named(&policy)
            .workload_disruption(mode == Mode::PostCopy)
            .throttled("64Mi", 10)
            .selecting_vmis("vstp.io/vm", VM)
            .selecting_namespaces(RUN_LABEL, scope.run_id())
            .selecting_namespaces(SCENARIO_LABEL, &scope.labels()[SCENARIO_LABEL]);
        scope.create(kinds::MIGRATION_POLICY, spec.build()).await?;
        let vm = shape(ctx.vm(VM, os).await?);
        let vm = ctx.start(&scope, &vm).await?;
        let dirtier = vm.guest.start_memory_dirtier(350).await?;
        ctx.step(format!("memory dirtier running as PID {dirtier}"));
        let before = Invariants::capture(&vm.guest, &vm.vmi).await?;
        ctx.step(format!("sentinel PID {}", before.sentinel));
        Ok(Busy {
            scope,
            vm,
            policy,
            mode,
            before,
        })
    }

    /// Applies `patch` to the VM and follows the workload-update migration it causes.
    async fn hotplug(&self, ctx: &Ctx, patch: &serde_json::Value) -> anyhow::Result<Finished> {
        let mark = migration::mark(&self.scope, VM).await?;
        vms::patch_vm(&self.scope, VM, patch).await?;
        let done =
            migration::started_by_kubevirt(&self.scope, &mark, "kubevirt-workload-update-").await?;
        self.assert_finished_in_mode(ctx, &mark, &done).await?;
        Ok(done)
    }

    /// The migration ran under our policy and ended in the expected mode (read for its own
    /// UID); a Paused migration paused the guest and unpaused it; nothing the guest must keep
    /// broke.
    async fn assert_finished_in_mode(
        &self,
        ctx: &Ctx,
        mark: &migration::Mark,
        done: &Finished,
    ) -> anyhow::Result<()> {
        let state = done.state().ok_or_else(|| {
            anyhow::anyhow!(
                "the VMI's migrationState does not describe migration {}",
                done.uid()
            )
        })?;
        let policy = state["migrationPolicyName"].as_str();
        anyhow::ensure!(
            policy == Some(self.policy.as_str()),
            "migration {} ran under policy {policy:?}, expected {}",
            done.name(),
            self.policy
        );
        let mode = done.mode();
        ctx.step(format!("migration {} ended in mode {mode:?}", done.name()));
        anyhow::ensure!(
            mode == Some(self.mode.name()),
            "migration {} ran in mode {mode:?}, expected {}",
            done.name(),
            self.mode.name()
        );
        if self.mode == Mode::Paused {
            migration::condition_cycle(&self.scope, mark, "Paused").await?;
            ctx.step("the VMI was Paused during the migration and is not any more");
        }
        self.before
            .assert_preserved(&self.vm.guest, &done.vmi)
            .await
    }
}

//! A Windows guest's boot time after a pause, as real guests keep it: the clock stands still
//! while the VM is paused and virt-launcher then sets it through the guest agent (kubevirt
//! v1.9.0 manager.go setGuestTime), so `LastBootUpTime` moves forward by the pause. The
//! harness must not read that as a reboot, and must still read a reboot as one. Both run
//! against a standalone simulator reached as a cluster.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use vstp::cluster::wait::Watch;
use vstp::cluster::{kinds, NamespaceKind, Scope};
use vstp::ctx::Ctx;
use vstp::guest::os::GuestOs;
use vstp::runner::Outcome;
use vstp::vm::invariants::NotPreserved;
use vstp::vm::Vm;

mod support;
use support::runs::{cluster, row_with_body, run_one};

/// The windows-paused catalogue row with a test body instead of its own, run against a
/// simulator at its default time scale.
fn run(label: &str, body: fn(Ctx) -> BoxFuture<'static, anyhow::Result<()>>) -> Outcome {
    let sim = cluster(label, vstp_sim::DEFAULT_TIME_SCALE);
    run_one(&sim, row_with_body("windows-paused", body)).0
}

/// PUTs the VMI subresource `action` (`pause`, `unpause`, `reset`), as virtctl does.
async fn vmi_action(scope: &Scope, vm: &Vm, action: &str) -> anyhow::Result<()> {
    let path = format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/{}/virtualmachineinstances/{}/{action}",
        scope.ns(),
        vm.name()
    );
    let request = http::Request::put(path).body(b"{}".to_vec())?;
    scope.client().request_text(request).await?;
    Ok(())
}

/// The VMI's Paused condition is `paused` for `window` of cluster time: the pause lasts (or
/// the guest runs) that long, watched rather than slept.
async fn stays(scope: &Scope, vm: &Vm, paused: bool, window: Duration) -> anyhow::Result<()> {
    let what = format!("VMI {} Paused={paused}", vm.name());
    Watch::object(scope.client(), kinds::VMI, scope.ns(), vm.name())
        .holds_for(&what, scope.budgets.window(window), |seen| {
            seen.values().all(|v| {
                let set = v["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Paused" && c["status"] == "True");
                set == paused
            })
        })
        .await?;
    Ok(())
}

/// Paused for a minute and unpaused; then the invariants a live operation keeps are checked.
async fn paused_a_minute(ctx: &Ctx, reboot: bool) -> anyhow::Result<()> {
    let scope = ctx.scope(NamespaceKind::Plain).await?;
    let vm = ctx
        .start(&scope, &ctx.vm("vm-a", GuestOs::Windows).await?)
        .await?;
    let before = vm.capture().await?;
    vmi_action(&scope, &vm, "pause").await?;
    stays(&scope, &vm, true, Duration::from_secs(60)).await?;
    vmi_action(&scope, &vm, "unpause").await?;
    // virt-launcher sets the clock a second after the unpause; the guest runs on meanwhile.
    stays(&scope, &vm, false, Duration::from_secs(10)).await?;
    if reboot {
        vmi_action(&scope, &vm, "reset").await?;
    }
    before.assert_preserved(&vm.guest, &vm.vmi().await?).await
}

fn pause_only(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { paused_a_minute(&ctx, false).await }.boxed()
}

#[test]
fn a_clock_step_after_a_pause_is_not_a_reboot() {
    let outcome = run("clock-step", pause_only);
    assert_eq!(outcome, Outcome::Passed);
}

/// The same with a reset after the unpause: the harness must name the reboot by its boot time.
fn pause_then_reset(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let Err(e) = paused_a_minute(&ctx, true).await else {
            anyhow::bail!("a reset after the pause read as the same boot");
        };
        let broken = e
            .downcast_ref::<NotPreserved>()
            .ok_or_else(|| anyhow::anyhow!("not a broken invariant: {e:#}"))?;
        anyhow::ensure!(
            broken
                .broken
                .iter()
                .any(|b| b.invariant == "boot (the guest rebooted)"),
            "the reboot was not read from the boot time: {broken}"
        );
        Ok(())
    }
    .boxed()
}

#[test]
fn a_reboot_after_a_pause_is_a_reboot() {
    let outcome = run("clock-reboot", pause_then_reset);
    assert_eq!(outcome, Outcome::Passed);
}

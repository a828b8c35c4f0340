//! The memory copy of a real guest (the qemu lane): a qemu migration from the source machine
//! to a target machine started with `-incoming defer`, as libvirt runs one for virt-launcher,
//! watched as KubeVirt's migration monitor watches it (kubevirt v1.9.0
//! pkg/virt-launcher/virtwrap/live-migration-source.go `migrationMonitor`): progress is the
//! data left to send; no progress for progressTimeout aborts; past completionTimeoutPerGiB ×
//! the guest's GiB the convergence action runs (with AllowWorkloadDisruption: post-copy when
//! allowed, else the guest is paused; without it the migration is aborted), as
//! controllers/convergence.rs models it for emulated guests.
//!
//! The lane's migration runs in real time: the policy's bandwidth is bytes per real second and
//! its timeouts real seconds, as on a cluster; only the simulator's bookkeeping around it
//! (pods, phases) keeps modelled time.
//!
//! The monitor follows qemu's events (MIGRATION, MIGRATION_PASS), not a poll: each pass it
//! reads the data left (`query-migrate`), and timers stand for the two deadlines.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::mode::{monitor_paused, monitor_post_copy, monitor_resumed};
use super::step::{stopped, Abort, Stop};
use crate::controllers::convergence::Inputs;
use crate::controllers::Ctx;
use crate::guest::{self, GuestRef};
use crate::obj;
use crate::qemu::qmp::Qmp;
use crate::qemu::Machine;

/// How long the target may take to load the last of the guest once the source is done.
const INCOMING_BUDGET: Duration = Duration::from_secs(60);

/// What the monitor did when the deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    None,
    PostCopy,
    Paused,
}

/// Migrates `source` into a new target machine; on success the guest runs there and the
/// source is dropped (its process ends).
pub async fn copy_memory(
    ctx: &Arc<Ctx>,
    vmi: &Value,
    limits: &Inputs,
    source: &Arc<Machine>,
    guest: &GuestRef,
    abort: &mut Abort,
) -> Result<(), Stop> {
    let lane = ctx.spec.guests.lane().ok_or(Stop::Gone)?;
    let boot_id = guest::lock(guest).boot_id.clone();
    let target = Machine::start_incoming(lane, &source.spec(), &boot_id)
        .await
        .map_err(|why| Stop::Failed(format!("the target domain did not start: {why}")))?;
    let port = crate::qemu::machine::free_port().map_err(Stop::Failed)?;
    let uri = format!("tcp:{port}");
    let post_copy = limits.allow_post_copy && limits.allow_workload_disruption;
    let capabilities = json!({"capabilities": [
        {"capability": "events", "state": true},
        {"capability": "postcopy-ram", "state": post_copy}]});
    {
        let mut qmp = target.qmp.lock().await;
        qmp_call(&mut qmp, "migrate-set-capabilities", capabilities.clone()).await?;
        qmp_call(&mut qmp, "migrate-incoming", json!({"uri": uri})).await?;
    }
    let mut qmp = source.qmp.lock().await;
    qmp_call(&mut qmp, "migrate-set-capabilities", capabilities).await?;
    let parameters = json!({"max-bandwidth": limits.bandwidth as u64,
        "downtime-limit": (limits.max_downtime_s * 1000.0) as u64});
    qmp_call(&mut qmp, "migrate-set-parameters", parameters).await?;
    // What the source's monitor said before is about earlier migrations (its own incoming
    // one, when it was a target): only what follows this `migrate` is this one's news.
    qmp.events.clear();
    qmp_call(&mut qmp, "migrate", json!({"uri": uri})).await?;
    let action = monitor(ctx, vmi, limits, &mut qmp, guest, abort).await;
    drop(qmp);
    if action.as_ref().is_ok_and(|a| *a == Action::Paused) || action.is_err() {
        monitor_resumed(ctx, vmi, Some(guest));
    }
    let action = match action {
        Ok(action) => action,
        Err(stop) => {
            let _ = qmp_call(&mut *source.qmp.lock().await, "cont", json!({})).await;
            return Err(stop);
        }
    };
    // libvirt's Finish phase: the migration succeeded once the target has loaded the whole
    // guest, not when the source has sent it. A target that fails to load it fails the
    // migration, and a source that still holds the guest (no post-copy) runs on.
    let mut qmp = target.qmp.lock().await;
    let loaded = tokio::time::timeout(INCOMING_BUDGET, incoming_done(&mut qmp))
        .await
        .unwrap_or_else(|_| Err(Stop::Failed(format!(
            "the target did not finish loading the guest within {INCOMING_BUDGET:?} of the source's end"
        ))));
    if let Err(stop) = loaded {
        if action != Action::PostCopy {
            let _ = qmp_call(&mut *source.qmp.lock().await, "cont", json!({})).await;
        }
        return Err(stop);
    }
    if action == Action::Paused {
        // libvirt resumes the domain on the target after a migration it paused: a `cont`
        // before the target loaded it would be absorbed, and qemu keeps the source's paused
        // state (migration.c process_incoming_migration_bh).
        qmp_call(&mut qmp, "cont", json!({})).await?;
    }
    drop(qmp);
    guest::lock(guest).machine = Some(target);
    Ok(())
}

/// Follows the migration to its end; the action taken at the completion deadline.
async fn monitor(
    ctx: &Ctx,
    vmi: &Value,
    limits: &Inputs,
    qmp: &mut Qmp,
    guest: &GuestRef,
    abort: &mut Abort,
) -> Result<Action, Stop> {
    let started = Instant::now();
    let completion = started + secs(acceptable_secs(limits));
    let stall = secs(limits.progress_timeout_s);
    let (mut best, mut progressed) = (u64::MAX, started);
    let mut action = Action::None;
    loop {
        let deadline = match action {
            Action::None => completion.min(progressed + stall),
            _ => progressed + stall,
        };
        let event = tokio::select! {
            event = qmp.next_event() => event.map_err(Stop::Failed)?,
            _ = tokio::time::sleep_until(deadline) => {
                if Instant::now() >= progressed + stall {
                    let _ = qmp.execute("migrate_cancel", json!({})).await;
                    return Err(Stop::Failed(format!(
                        "Live migration stuck for {} sec and has been aborted",
                        limits.progress_timeout_s
                    )));
                }
                action = converge(ctx, vmi, limits, qmp, guest).await?;
                continue;
            }
            stop = stopped(abort) => {
                let _ = qmp.execute("migrate_cancel", json!({})).await;
                return Err(stop);
            }
        };
        match obj::str_at(&event, "/event") {
            "MIGRATION_PASS" => {
                let left = remaining(qmp).await?;
                if left < best {
                    (best, progressed) = (left, Instant::now());
                }
            }
            "MIGRATION" => match obj::str_at(&event, "/data/status") {
                "completed" => return Ok(action),
                "failed" => return Err(Stop::Failed(failure(qmp).await)),
                "cancelled" => return Err(Stop::Aborted),
                _ => {}
            },
            _ => {}
        }
    }
}

/// The convergence action at the completion deadline (live-migration-source.go
/// `shouldTriggerTimeout` then `triggerConvergenceAction`).
async fn converge(
    ctx: &Ctx,
    vmi: &Value,
    limits: &Inputs,
    qmp: &mut Qmp,
    guest: &GuestRef,
) -> Result<Action, Stop> {
    let acceptable = acceptable_secs(limits);
    if !limits.allow_workload_disruption {
        let _ = qmp.execute("migrate_cancel", json!({})).await;
        return Err(Stop::Failed(format!(
            "Live migration is not completed after {acceptable} sec and has been aborted"
        )));
    }
    if limits.allow_post_copy {
        qmp_call(qmp, "migrate-start-postcopy", json!({})).await?;
        monitor_post_copy(ctx, vmi)?;
        return Ok(Action::PostCopy);
    }
    qmp_call(qmp, "stop", json!({})).await?;
    monitor_paused(ctx, vmi, Some(guest))?;
    Ok(Action::Paused)
}

/// Waits for the target's own MIGRATION event saying it has the whole guest.
async fn incoming_done(qmp: &mut Qmp) -> Result<(), Stop> {
    loop {
        let event = qmp.event("MIGRATION").await.map_err(Stop::Failed)?;
        match obj::str_at(&event, "/data/status") {
            "completed" => return Ok(()),
            "failed" => return Err(Stop::Failed(failure(qmp).await)),
            _ => {}
        }
    }
}

/// completionTimeoutPerGiB × the guest's memory in whole GiB (at least one): how long the
/// monitor lets a migration run before its convergence action.
fn acceptable_secs(limits: &Inputs) -> f64 {
    limits.completion_timeout_per_gib * (limits.memory_bytes / crate::quantity::GIB).ceil().max(1.0)
}

async fn remaining(qmp: &mut Qmp) -> Result<u64, Stop> {
    let info = qmp_call(qmp, "query-migrate", json!({})).await?;
    Ok(info["ram"]["remaining"].as_u64().unwrap_or(u64::MAX))
}

async fn failure(qmp: &mut Qmp) -> String {
    let info = qmp.execute("query-migrate", json!({})).await;
    let why = info
        .ok()
        .and_then(|i| i["error-desc"].as_str().map(str::to_string))
        .unwrap_or_else(|| "qemu reported the migration failed".into());
    format!("Live migration failed: {why}")
}

async fn qmp_call(qmp: &mut Qmp, command: &str, arguments: Value) -> Result<Value, Stop> {
    qmp.execute(command, arguments).await.map_err(Stop::Failed)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 1e9))
}

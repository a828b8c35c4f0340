//! The migration controller: VMIM phases and the finalizer, and a task per running migration
//! that takes it through its phases: scheduling (slots, target pod, hand-off), the transfer
//! (convergence model), and completion or failure and abort.

mod backoff;
mod complete;
mod fdb;
mod mode;
mod real;
mod schedule;
mod step;
mod switchover;
mod transfer;

use std::sync::Arc;

use serde_json::Value;

use super::{boot, events, Ctx, Key};
use crate::faults::Fault;
use crate::kinds;
use crate::obj;
use complete::{complete, finish_failed};
use schedule::Source;
use step::Abort;
pub use step::Stop;

pub const FINALIZER: &str = "kubevirt.io/migrationJobFinalize";

pub fn is_final(vmim: &Value) -> bool {
    matches!(obj::str_at(vmim, "/status/phase"), "Succeeded" | "Failed")
}

/// Level-triggered part: new VMIMs get Pending (or Failed), finished ones lose the finalizer
/// (upstream: updateStatus), deleted ones abort (upstream: sync, through
/// handlePreHandoffMigrationCancel or markMigrationAbortInVmiStatus).
pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(m) = ctx.get(kinds::VMIMS, ns, name) else {
        return;
    };
    if obj::deleting(&m) {
        let abort = ctx.state().migrations.get(obj::uid(&m)).cloned();
        match abort {
            Some(tx) => stop(&tx, Stop::Aborted),
            None => {
                ctx.write(kinds::VMIMS, ns, name, |v| {
                    obj::remove_finalizer(v, FINALIZER)
                });
            }
        }
        return;
    }
    if is_final(&m) {
        if obj::finalizers_of(&m).iter().any(|f| f == FINALIZER) {
            ctx.write(kinds::VMIMS, ns, name, |v| {
                obj::remove_finalizer(v, FINALIZER)
            });
        }
        return;
    }
    if obj::str_at(&m, "/status/phase").is_empty() {
        admit(ctx, &m);
    }
}

/// A new VMIM is Pending, or Failed when its VMI does not run or another migration of it is
/// under way (upstream: processMigrationPhase with the phase unset, canMigrateVMI).
fn admit(ctx: &Ctx, m: &Value) {
    let (ns, uid) = (obj::namespace(m), obj::uid(m));
    let vmi_name = obj::str_at(m, "/spec/vmiName");
    let vmi = ctx.get(kinds::VMIS, ns, vmi_name);
    let other = ctx.list(kinds::VMIMS, Some(ns)).into_iter().any(|o| {
        obj::str_at(&o, "/spec/vmiName") == vmi_name
            && obj::uid(&o) != uid
            && !is_final(&o)
            && !obj::str_at(&o, "/status/phase").is_empty()
    });
    let ok = vmi.is_some_and(|v| obj::str_at(&v, "/status/phase") == "Running") && !other;
    let now = ctx.now();
    ctx.write(kinds::VMIMS, ns, obj::name(m), |v| {
        boot::set_phase(v, if ok { "Pending" } else { "Failed" }, &now)
    });
}

/// Starts Pending migrations while the cluster and per-node limits allow.
pub fn start_pending(ctx: &Arc<Ctx>) {
    for m in schedule::admitted(ctx) {
        let (tx, rx) = tokio::sync::watch::channel(None);
        ctx.state().migrations.insert(obj::uid(&m).to_string(), tx);
        tokio::spawn(run(ctx.clone(), (*m).clone(), rx));
    }
}

/// Stops a running migration from outside its task; the first reason given wins.
fn stop(tx: &tokio::sync::watch::Sender<Option<Stop>>, why: Stop) {
    tx.send_if_modified(|s| s.is_none() && s.replace(why).is_none());
}

/// The reason upstream's handleMarkMigrationFailedOnVMI gives the VMI's migrationState when
/// the migration controller fails a migration whose pods went away.
const POD_DOWN: &str = "Target pod is down";

/// A launcher pod is gone: a running migration whose target it was fails (kubevirt v1.9.0
/// pkg/virt-controller/watch/migration/migration.go updateStatus, with the Warning event
/// "Migration target pod was removed during active migration.", then
/// handleMarkMigrationFailedOnVMI); the VMI stays on its source.
pub fn pod_gone(ctx: &Ctx, pod: &Value) {
    let Some(vmim_uid) = obj::label(pod, "kubevirt.io/migrationJobUID") else {
        return;
    };
    let message = "Migration target pod was removed during active migration.";
    fail_running(ctx, obj::namespace(pod), vmim_uid, message);
}

/// The VMI of a running migration failed (its source pod is gone): the migration fails with it
/// (migration.go updateStatus: "Migration failed vmi shutdown during migration.").
pub fn vmi_failed(ctx: &Ctx, vmi: &Value) {
    if let Some(m) = ctx.active_migration_of(obj::namespace(vmi), obj::name(vmi)) {
        let message = "Migration failed vmi shutdown during migration.";
        fail_running(ctx, obj::namespace(vmi), obj::uid(&m), message);
    }
}

/// Fails the running migration `vmim_uid` with a Warning event `FailedMigration` on it.
fn fail_running(ctx: &Ctx, ns: &str, vmim_uid: &str, message: &str) {
    let Some(tx) = ctx.state().migrations.get(vmim_uid).cloned() else {
        return;
    };
    let vmims = ctx.list(kinds::VMIMS, Some(ns));
    if let Some(m) = vmims.iter().find(|m| obj::uid(m) == vmim_uid) {
        events::warning(ctx, m, "FailedMigration", message, events::VIRT_CONTROLLER);
    }
    stop(&tx, Stop::Failed(POD_DOWN.into()));
}

async fn run(ctx: Arc<Ctx>, vmim: Value, abort: Abort) {
    let uid = obj::uid(&vmim).to_string();
    let result = steps(&ctx, &vmim, abort).await;
    let (ns, name) = (obj::namespace(&vmim), obj::name(&vmim));
    if let Some(vmi) = ctx.get(kinds::VMIS, ns, obj::str_at(&vmim, "/spec/vmiName")) {
        fdb::settled(&ctx, obj::uid(&vmi));
    }
    match result {
        Ok(()) => {}
        // Left in its last phase, it would hold a migration slot until its namespace goes.
        Err(Stop::Gone) => finish_failed(&ctx, &vmim, "the VMI no longer exists", false),
        Err(Stop::Aborted) => {
            finish_failed(&ctx, &vmim, "Live migration aborted by user request", true)
        }
        Err(Stop::Failed(reason)) => finish_failed(&ctx, &vmim, &reason, false),
    }
    {
        let mut state = ctx.state();
        state.migrations.remove(&uid);
        state
            .migrations_ended
            .insert(uid.clone(), tokio::time::Instant::now());
    }
    reconcile(&ctx, ns, name);
    ctx.requeue(Key::Migrations);
}

/// The phases of one migration, in order; the first that stops ends it.
async fn steps(ctx: &Arc<Ctx>, vmim: &Value, mut abort: Abort) -> Result<(), Stop> {
    let vmi = ctx
        .get(
            kinds::VMIS,
            obj::namespace(vmim),
            obj::str_at(vmim, "/spec/vmiName"),
        )
        .ok_or(Stop::Failed("the VMI is gone".into()))?;
    let source = Source::of(ctx, &vmi);
    let target = schedule::target(ctx, vmim, &vmi, &source, &mut abort).await?;
    let config = schedule::hand_off(ctx, vmim, &vmi, &source, &target, &mut abort).await?;
    transfer::prepare_target(ctx, vmim, &vmi, &target.node, &mut abort).await?;
    fdb::target_announced(ctx, &vmi);
    transfer::start(ctx, vmim, &vmi, &mut abort).await?;
    if ctx.faults.has(Fault::LauncherPodKilled) {
        ctx.delete(kinds::PODS, obj::namespace(vmim), &source.pod);
    }
    let leaving = super::serial_log::Leaving::now(ctx, obj::namespace(vmim), &source.pod);
    transfer::copy_memory(ctx, &vmi, &config, &mut abort).await?;
    leaving.left(ctx);
    switchover::switch_over(ctx, &vmi, &source.node, &target.node).await;
    complete(
        ctx,
        vmim,
        obj::uid(&vmi),
        &target.node,
        &target.pod,
        &source.pod,
    )
}

//! The migration controller: VMIM phases and the finalizer, and a task per running migration
//! that takes it through its phases: scheduling (slots, target pod, hand-off), the transfer
//! (convergence model), and completion or failure and abort.

mod complete;
mod schedule;
mod step;
mod transfer;

use std::sync::Arc;

use serde_json::Value;

use super::{boot, Ctx, Key};
use crate::kinds;
use crate::obj;
use complete::{complete, finish_failed};
use schedule::Source;
use step::{Abort, Stop};

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
            Some(tx) => {
                let _ = tx.send(true);
            }
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
        let (tx, rx) = tokio::sync::watch::channel(false);
        ctx.state().migrations.insert(obj::uid(&m).to_string(), tx);
        tokio::spawn(run(ctx.clone(), (*m).clone(), rx));
    }
}

async fn run(ctx: Arc<Ctx>, vmim: Value, abort: Abort) {
    let uid = obj::uid(&vmim).to_string();
    let result = steps(&ctx, &vmim, abort).await;
    let (ns, name) = (obj::namespace(&vmim), obj::name(&vmim));
    match result {
        Ok(()) => {}
        // Left in its last phase, it would hold a migration slot until its namespace goes.
        Err(Stop::Gone) => finish_failed(&ctx, &vmim, "the VMI no longer exists", false),
        Err(Stop::Aborted) => {
            finish_failed(&ctx, &vmim, "Live migration aborted by user request", true)
        }
        Err(Stop::Failed(reason)) => finish_failed(&ctx, &vmim, &reason, false),
    }
    ctx.state().migrations.remove(&uid);
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
    transfer::start(ctx, vmim, &vmi, &mut abort).await?;
    transfer::copy_memory(ctx, &vmi, &config, &mut abort).await?;
    complete(
        ctx,
        vmim,
        obj::uid(&vmi),
        &target.node,
        &target.pod,
        &source.pod,
    )
}

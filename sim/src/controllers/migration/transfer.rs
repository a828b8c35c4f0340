//! The transfer: the target listens, the source starts in pre-copy, and memory is copied as the
//! convergence model decides: done in pre-copy, switched to post-copy, finished with the guest
//! paused, or aborted.

use std::sync::Arc;

use serde_json::{json, Value};

use super::mode::{monitor_paused, monitor_post_copy, monitor_resumed, record_mode};
use super::schedule::Configuration;
use super::step::{vmim_phase, wait, Abort, Stop};
use crate::controllers::convergence::{self, Outcome};
use crate::controllers::{launcher, Ctx};
use crate::faults::Fault;
use crate::guest::{self, GuestRef};
use crate::kinds;
use crate::obj;
use crate::quantity;

/// kubevirt v1.9.0 pkg/virt-config/virt-config.go DefaultMigrationMaxDowntimeMs.
const DEFAULT_MAX_DOWNTIME: f64 = 0.9;

/// The target prepares and advertises where it listens (upstream's virt-handler:
/// MigrationTargetController.updateStatus); the VMIM moves to TargetReady.
pub async fn prepare_target(
    ctx: &Ctx,
    vmim: &Value,
    vmi: &Value,
    target: &str,
    abort: &mut Abort,
) -> Result<(), Stop> {
    wait(ctx, ctx.spec.durations.migration_target_prepare, abort).await?;
    let address = crate::world::nodes::address(&ctx.store, target);
    let (ns, name, uid) = (obj::namespace(vmi), obj::name(vmi), obj::uid(vmi));
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        let s = &mut v["status"]["migrationState"];
        s["targetNodeAddress"] = json!(address);
        s["targetDirectMigrationNodePorts"] = json!({"35001": 0, "41068": 49152});
        // `targetNodeDomainDetected,omitempty` (v1.9.0 types.go): false is never written.
        obj::remove_field(s, "", "targetNodeDomainDetected");
    })
    .ok_or(Stop::Gone)?;
    vmim_phase(ctx, vmim, "TargetReady")
}

/// The source starts migrating, in pre-copy; the VMIM moves to Running. A VMI with the
/// functional tests' forced-failure annotation fails here, as upstream's virt-launcher fails
/// it (shouldImmediatelyFailMigration).
pub async fn start(ctx: &Ctx, vmim: &Value, vmi: &Value, abort: &mut Abort) -> Result<(), Stop> {
    let start = ctx.now();
    let (ns, name, uid) = (obj::namespace(vmi), obj::name(vmi), obj::uid(vmi));
    record_mode(ctx, vmi, "PreCopy");
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        v["status"]["migrationState"]["startTimestamp"] = json!(start);
        v["status"]["migrationState"]["mode"] = json!("PreCopy");
    })
    .ok_or(Stop::Gone)?;
    vmim_phase(ctx, vmim, "Running")?;
    if obj::annotation(
        vmi,
        "kubevirt.io/func-test-force-launcher-migration-failure",
    ) == Some("true")
    {
        wait(ctx, 1.0, abort).await?;
        return Err(Stop::Failed(
            "Live migration failed: forced by the test annotation".into(),
        ));
    }
    Ok(())
}

/// Copies memory per the convergence model, switching mode or aborting as it decides.
pub async fn copy_memory(
    ctx: &Arc<Ctx>,
    vmi: &Value,
    config: &Configuration,
    abort: &mut Abort,
) -> Result<(), Stop> {
    let guest = ctx.guests.get(obj::uid(vmi));
    let machine = guest.as_ref().and_then(|g| guest::lock(g).machine.clone());
    if let (Some(machine), Some(guest)) = (machine, &guest) {
        let limits = inputs(ctx, vmi, Some(guest), config);
        return super::real::copy_memory(ctx, vmi, &limits, &machine, guest, abort).await;
    }
    match convergence::plan(inputs(ctx, vmi, guest.as_ref(), config)) {
        Outcome::PreCopy { done } => wait(ctx, done, abort).await,
        Outcome::PostCopy { switch, done } => post_copy(ctx, vmi, switch, done, abort).await,
        Outcome::Paused { switch, done } => {
            paused(ctx, vmi, guest.as_ref(), switch, done, abort).await
        }
        Outcome::Aborted { at, reason } => {
            wait(ctx, at, abort).await?;
            Err(Stop::Failed(reason))
        }
    }
}

/// What the convergence model needs: the guest's memory and how fast it dirties it, the
/// bandwidth, and the limits of the resolved configuration and the policy.
fn inputs(
    ctx: &Ctx,
    vmi: &Value,
    guest: Option<&GuestRef>,
    config: &Configuration,
) -> convergence::Inputs {
    let (dirty_rate, working_set, memory) = match guest {
        Some(g) => {
            let g = guest::lock(g);
            let (r, w) = g.dirty_load();
            (r, w, g.memory_bytes as f64)
        }
        None => (0.0, 0.0, launcher::guest_memory(&vmi["spec"]) as f64),
    };
    let resolved = &config.resolved;
    let limit = quantity::of(&resolved["bandwidthPerMigration"]).unwrap_or(0.0);
    let link = ctx.spec.link_bytes_per_s();
    convergence::Inputs {
        memory_bytes: memory,
        bandwidth: if limit > 0.0 { limit.min(link) } else { link },
        dirty_rate,
        working_set,
        // The resolved configuration's, the policy's if it sets one (kubevirt v1.9.0
        // migrationpolicy.go applyMigrationPolicySpec), else the cluster's (900 ms by default,
        // pkg/virt-config DefaultMigrationMaxDowntimeMs).
        max_downtime_s: resolved["maxDowntimeMs"]
            .as_f64()
            .map_or(DEFAULT_MAX_DOWNTIME, |ms| ms / 1000.0),
        completion_timeout_per_gib: resolved["completionTimeoutPerGiB"]
            .as_f64()
            .unwrap_or(150.0),
        progress_timeout_s: resolved["progressTimeout"].as_f64().unwrap_or(150.0),
        // The awd-ignored regression: the policy's permission never reaches the monitor.
        allow_workload_disruption: resolved["allowWorkloadDisruption"] == true
            && !ctx.faults.has(Fault::AwdIgnored),
        allow_post_copy: resolved["allowPostCopy"] == true,
    }
}

/// Pre-copy until `switch`, post-copy until `done`, the mode reported as upstream's migration
/// monitor reports it when it starts post-copy (triggerConvergenceAction).
async fn post_copy(
    ctx: &Ctx,
    vmi: &Value,
    switch: f64,
    done: f64,
    abort: &mut Abort,
) -> Result<(), Stop> {
    wait(ctx, switch, abort).await?;
    monitor_post_copy(ctx, vmi)?;
    // Post-copy cannot be aborted: the guest already runs on the target.
    ctx.sleep(done - switch).await;
    Ok(())
}

/// Pre-copy until `switch`, then the guest paused until `done`: the mode as upstream's migration
/// monitor reports it (reconcilePauseState), the condition as virt-handler sets it
/// (calculatePausedCondition).
async fn paused(
    ctx: &Ctx,
    vmi: &Value,
    guest: Option<&GuestRef>,
    switch: f64,
    done: f64,
    abort: &mut Abort,
) -> Result<(), Stop> {
    wait(ctx, switch, abort).await?;
    monitor_paused(ctx, vmi, guest)?;
    let result = wait(ctx, done - switch, abort).await;
    monitor_resumed(ctx, vmi, guest);
    result
}

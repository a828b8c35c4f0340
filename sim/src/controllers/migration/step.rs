//! What every step of a running migration shares: how it stops early, a modelled wait that an
//! abort cuts short, and the VMIM phase it reports.

use serde_json::Value;

use crate::controllers::{boot, Ctx};
use crate::kinds;
use crate::obj;

/// Why a running migration stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Aborted,
    Failed(String),
    Gone,
}

/// What stops a running migration from outside its task: an abort, or the migration
/// controller failing it (a pod of it gone); `None` while it may go on.
pub type Abort = tokio::sync::watch::Receiver<Option<Stop>>;

/// Sleeps a modelled duration unless the migration is stopped first.
pub async fn wait(ctx: &Ctx, secs: f64, abort: &mut Abort) -> Result<(), Stop> {
    tokio::select! {
        _ = ctx.sleep(secs) => Ok(()),
        stop = stopped(abort) => Err(stop),
    }
}

/// Resolves with the reason once the migration is stopped from outside.
pub async fn stopped(abort: &mut Abort) -> Stop {
    let stop = match abort.wait_for(Option::is_some).await {
        Ok(stop) => stop.clone(),
        Err(_) => None,
    };
    match stop {
        Some(stop) => stop,
        // The controller forgot the migration: nothing will stop it any more.
        None => std::future::pending().await,
    }
}

/// Moves the VMIM to `phase`; a final one gets a copy of the VMI's migrationState when the VMI
/// carries this migration's (kubevirt v1.9.0 pkg/virt-controller/watch/migration/migration.go
/// updateStatus copies it only once the migration IsFinal).
pub fn vmim_phase(ctx: &Ctx, vmim: &Value, phase: &str) -> Result<(), Stop> {
    let now = ctx.now();
    let vmi_state = ctx
        .get(
            kinds::VMIS,
            obj::namespace(vmim),
            obj::str_at(vmim, "/spec/vmiName"),
        )
        .map(|v| v["status"]["migrationState"].clone());
    ctx.write_uid(
        kinds::VMIMS,
        obj::namespace(vmim),
        obj::name(vmim),
        obj::uid(vmim),
        |m| {
            boot::set_phase(m, phase, &now);
            let is_final = matches!(phase, "Succeeded" | "Failed");
            let own = |s: &Value| s["migrationUid"] == m["metadata"]["uid"];
            if let Some(state) = vmi_state.filter(|s| is_final && own(s)) {
                m["status"]["migrationState"] = state;
            }
        },
    )
    .map(|_| ())
    .ok_or(Stop::Gone)
}

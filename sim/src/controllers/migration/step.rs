//! What every step of a running migration shares: how it stops early, a modelled wait that an
//! abort cuts short, and the VMIM phase it reports.

use serde_json::Value;

use crate::controllers::{boot, Ctx};
use crate::kinds;
use crate::obj;

/// Why a running migration stopped early.
pub enum Stop {
    Aborted,
    Failed(String),
    Gone,
}

pub type Abort = tokio::sync::watch::Receiver<bool>;

/// Sleeps a modelled duration unless the migration is aborted first.
pub async fn wait(ctx: &Ctx, secs: f64, abort: &mut Abort) -> Result<(), Stop> {
    if *abort.borrow() {
        return Err(Stop::Aborted);
    }
    tokio::select! {
        _ = ctx.sleep(secs) => Ok(()),
        _ = abort.wait_for(|a| *a) => Err(Stop::Aborted),
    }
}

/// Moves the VMIM to `phase`, with a copy of the VMI's migrationState once the VMI carries
/// this migration's.
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
            if let Some(state) = vmi_state.filter(|s| s["migrationUid"] == m["metadata"]["uid"]) {
                m["status"]["migrationState"] = state;
            }
        },
    )
    .map(|_| ())
    .ok_or(Stop::Gone)
}

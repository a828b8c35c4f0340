//! How the migration monitor reports what it did: the mode in migrationState (post-copy,
//! paused) and the Paused condition, recorded in the domain's metadata first.

use serde_json::{json, Value};

use super::step::Stop;
use crate::controllers::Ctx;
use crate::faults::Fault;
use crate::guest::{self, GuestRef};
use crate::kinds;
use crate::obj;

/// The migration monitor started post-copy: the mode.
pub fn monitor_post_copy(ctx: &Ctx, vmi: &Value) -> Result<(), Stop> {
    let mode = reported_mode(ctx, "PostCopy");
    record_mode(ctx, vmi, mode);
    let (ns, name, uid) = (obj::namespace(vmi), obj::name(vmi), obj::uid(vmi));
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        v["status"]["migrationState"]["mode"] = json!(mode)
    })
    .map(|_| ())
    .ok_or(Stop::Gone)
}

/// The migration monitor paused the guest: mode Paused and the condition.
pub fn monitor_paused(ctx: &Ctx, vmi: &Value, guest: Option<&GuestRef>) -> Result<(), Stop> {
    if let Some(g) = guest {
        guest::lock(g).set_paused(true);
    }
    let now = ctx.now();
    let mode = reported_mode(ctx, "Paused");
    record_mode(ctx, vmi, mode);
    let (ns, name, uid) = (obj::namespace(vmi), obj::name(vmi), obj::uid(vmi));
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        v["status"]["migrationState"]["mode"] = json!(mode);
        obj::set_condition(
            v,
            "Paused",
            true,
            "PausedByMigrationMonitor",
            "VMI was paused by the migration monitor",
            &now,
        );
    })
    .map(|_| ())
    .ok_or(Stop::Gone)
}

/// The guest runs again (on the target, or on the source if the migration failed).
pub fn monitor_resumed(ctx: &Ctx, vmi: &Value, guest: Option<&GuestRef>) {
    if let Some(g) = guest {
        guest::lock(g).set_paused(false);
    }
    let (ns, name, uid) = (obj::namespace(vmi), obj::name(vmi), obj::uid(vmi));
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        obj::remove_condition(v, "Paused")
    });
}

/// The mode written to migrationState: the true one, unless the mode-misreported regression
/// is on.
fn reported_mode(ctx: &Ctx, mode: &'static str) -> &'static str {
    if ctx.faults.has(Fault::ModeMisreported) {
        "PreCopy"
    } else {
        mode
    }
}

/// The source's domain records the mode in its migration metadata before virt-handler copies
/// it into the VMI status (see [`crate::controllers::handler_sync`]): recorded first, so that a
/// sync between the two never writes an older mode back. The migration is the one the VMI
/// runs now (read afresh: `vmi` may predate its migrationUid).
pub fn record_mode(ctx: &Ctx, vmi: &Value, mode: &str) {
    let current = ctx.get(kinds::VMIS, obj::namespace(vmi), obj::name(vmi));
    if let Some(current) = current.filter(|c| obj::uid(c) == obj::uid(vmi)) {
        super::super::handler_sync::record_mode(ctx, &current, mode);
    }
}

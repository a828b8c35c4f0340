//! virt-launcher sets the guest's clock through the guest agent after the guest was paused:
//! kubevirt v1.9.0 pkg/virt-launcher/virtwrap/manager.go setGuestTime, called by UnpauseVMI and
//! by live-migration-target.go finalizeMigrationTarget. Once per virt-launcher process
//! (`setTimeOnce`), first a second after the call, then each second while the agent does not
//! answer (ERR_AGENT_UNRESPONSIVE), for at most a minute; a guest without a running agent
//! keeps its clock behind.

use std::sync::Arc;

use super::Ctx;
use crate::guest::{self, GuestRef};

/// `time.NewTicker(time.Second)` and `time.After(60 * time.Second)` in setGuestTime.
const TICK_SECS: f64 = 1.0;
const TRIES: u32 = 60;

/// Sets the clock of the guest of VMI `vmi_uid`, as virt-launcher's setGuestTime does.
pub async fn set_guest_time(ctx: Arc<Ctx>, vmi_uid: String) {
    let Some(g) = ctx.guests.get(&vmi_uid) else {
        return;
    };
    if !guest::lock(&g).clock.launcher_attempt() {
        return;
    }
    for _ in 0..TRIES {
        ctx.sleep(TICK_SECS).await;
        if !same_guest(&ctx, &vmi_uid, &g) {
            return;
        }
        let mut guest = guest::lock(&g);
        // guest-set-time is answered by a running agent only.
        if guest.up && guest.distro.guest_agent && !guest.paused() {
            guest.clock.set_to_host();
            return;
        }
    }
}

/// The VMI still runs this guest (a new VMI or a deletion ends virt-launcher's goroutine).
fn same_guest(ctx: &Ctx, vmi_uid: &str, g: &GuestRef) -> bool {
    ctx.guests
        .get(vmi_uid)
        .is_some_and(|now| Arc::ptr_eq(&now, g))
}

//! Keys that reach the guest through its agent, late: virt-launcher's access-credentials loop
//! (kubevirt v1.9.0 pkg/virt-launcher/virtwrap/access-credentials/access_credentials.go
//! watchSecrets, reloadCredentialFiles) starts when the domain is defined and applies the
//! secrets on a 15 s ticker; while the agent does not answer its ping, the tick reports
//! "Guest agent is offline" and the next one tries again. virt-handler mirrors the result as
//! the VMI condition AccessCredentialsSynchronized (pkg/virt-handler/vm.go
//! updateAccessCredentialConditions).

use std::collections::BTreeMap;
use std::sync::Arc;

use russh::keys::PublicKey;

use super::{events, Ctx};
use crate::guest::{self, GuestRef};
use crate::kinds;
use crate::obj;

/// access_credentials.go NewManager: `resyncCheckIntervalSeconds: 15` (modelled seconds).
const TICK: f64 = 15.0;

/// Delivers `keys` (user → keys propagated by the guest agent) to the guest of VMI `uid` at the
/// first tick its agent answers; stops quietly when the VMI goes.
pub async fn propagate(
    ctx: Arc<Ctx>,
    (ns, name, uid): (String, String, String),
    keys: BTreeMap<String, Vec<PublicKey>>,
) {
    let mut offline_reported = false;
    loop {
        ctx.sleep(TICK).await;
        let Some(vmi) = ctx
            .get(kinds::VMIS, &ns, &name)
            .filter(|v| obj::uid(v) == uid && !obj::deleting(v))
        else {
            return;
        };
        // reloadCredentialFiles: pingAgent first.
        let guest = ctx.guests.get(&uid);
        let online = |g: &GuestRef| {
            let g = guest::lock(g);
            g.up && g.distro.guest_agent
        };
        let Some(guest) = guest.filter(online) else {
            if !offline_reported {
                report(&ctx, &vmi, false, "Guest agent is offline");
                offline_reported = true;
            }
            continue;
        };
        {
            let mut g = guest::lock(&guest);
            for (user, keys) in &keys {
                g.users
                    .entry(user.clone())
                    .or_default()
                    .extend(keys.iter().cloned());
            }
        }
        report(&ctx, &vmi, true, "");
        return;
    }
}

/// pkg/virt-handler/vm.go updateAccessCredentialConditions: the condition, replaced when its
/// status or message changes, and a Warning event AccessCredentialsSyncFailed for a failure.
fn report(ctx: &Ctx, vmi: &serde_json::Value, succeeded: bool, message: &str) {
    let now = ctx.now();
    ctx.write_same(kinds::VMIS, vmi, |v| {
        obj::remove_condition(v, "AccessCredentialsSynchronized");
        obj::set_condition(
            v,
            "AccessCredentialsSynchronized",
            succeeded,
            "",
            message,
            &now,
        );
    });
    if !succeeded {
        events::warning(
            ctx,
            vmi,
            "AccessCredentialsSyncFailed",
            &format!("Access credentials sync failed: {message}"),
            events::VIRT_HANDLER,
        );
    }
}

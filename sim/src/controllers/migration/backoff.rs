//! The migration controller's back-off: a migration the evacuation controller or the workload
//! updater created for a VMI whose earlier such migrations failed stays Pending a while.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::controllers::{events, Ctx, Key};
use crate::kinds;
use crate::obj;

/// kubevirt v1.9.0 migration.go handleMigrationBackoff: 20 s after one failure, doubled for
/// each earlier one back to the last success.
const FIRST: f64 = 20.0;

fn is_final(m: &Value) -> bool {
    matches!(obj::str_at(m, "/status/phase"), "Succeeded" | "Failed")
}

/// Whether a migration is one the back-off applies to (listBackoffEligibleMigrations).
fn eligible(m: &Value) -> bool {
    obj::annotation(m, "kubevirt.io/evacuationMigration").is_some()
        || obj::annotation(m, "kubevirt.io/workloadUpdateMigration").is_some()
}

/// Whether Pending migration `m` waits out a back-off now; if so, the VMI gets a Warning
/// event `MigrationBackoff` ("backoff migrating vmi <ns>/<name>", migration.go sync) and the
/// migrations are looked at again when it ends.
pub fn holds(ctx: &Arc<Ctx>, m: &Value) -> bool {
    let Some(left) = remaining(ctx, m) else {
        return false;
    };
    let (ns, vmi) = (obj::namespace(m), obj::str_at(m, "/spec/vmiName"));
    if let Some(v) = ctx.get(kinds::VMIS, ns, vmi) {
        let message = format!("backoff migrating vmi {ns}/{vmi}");
        events::warning(
            ctx,
            &v,
            "MigrationBackoff",
            &message,
            events::VIRT_CONTROLLER,
        );
    }
    ctx.requeue_once_after(Key::Migrations, left);
    true
}

/// Modelled seconds of back-off left for `m`, the newest eligible migration of its VMI: the
/// earlier eligible ones, newest first, up to the last that succeeded, each failed one
/// doubling the wait, counted from when the one before `m` failed.
fn remaining(ctx: &Ctx, m: &Value) -> Option<f64> {
    if !eligible(m) {
        return None;
    }
    let vmi = obj::str_at(m, "/spec/vmiName");
    let listed: Vec<Arc<Value>> = ctx
        .list(kinds::VMIMS, Some(obj::namespace(m)))
        .into_iter()
        .filter(|o| obj::str_at(o, "/spec/vmiName") == vmi && obj::uid(o) != obj::uid(m))
        .filter(|o| eligible(o) && is_final(o))
        .collect();
    // Not held while the store is read: a store write never waits for the state.
    let mut earlier: Vec<(tokio::time::Instant, Arc<Value>)> = {
        let state = ctx.state();
        let ended = |o: &Arc<Value>| state.migrations_ended.get(obj::uid(o)).copied();
        listed
            .into_iter()
            .filter_map(|o| Some((ended(&o)?, o)))
            .collect()
    };
    earlier.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut backoff = 0.0;
    for (_, o) in &earlier {
        match obj::str_at(o, "/status/phase") {
            "Succeeded" => break,
            _ if obj::deleting(o) => continue,
            _ => backoff = if backoff == 0.0 { FIRST } else { backoff * 2.0 },
        }
    }
    let (last_end, last) = earlier.first()?;
    if backoff == 0.0 || obj::str_at(last, "/status/phase") != "Failed" {
        return None;
    }
    let clock = ctx.store.clock();
    let over = *last_end + clock.real(Duration::from_secs_f64(backoff));
    let left = over.saturating_duration_since(tokio::time::Instant::now());
    (!left.is_zero()).then(|| left.as_secs_f64() * clock.scale())
}

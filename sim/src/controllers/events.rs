//! Events the controllers record, as client-go's recorder writes them: the same event again on
//! the same object only counts up (its event correlator).

use serde_json::{json, Value};

use super::Ctx;
use crate::kinds;
use crate::obj;

/// Who records an event: the component name upstream's recorder is created with.
pub const VIRT_CONTROLLER: &str = "virtualmachine-controller";
pub const VIRT_HANDLER: &str = "virt-handler";

/// Records a Warning event `reason` with `message` on `involved` (a KubeVirt object).
pub fn warning(ctx: &Ctx, involved: &Value, reason: &str, message: &str, component: &str) {
    record(ctx, involved, "Warning", reason, message, component)
}

/// Records an event of `kind` (Normal or Warning) on `involved`.
pub fn record(
    ctx: &Ctx,
    involved: &Value,
    kind: &str,
    reason: &str,
    message: &str,
    component: &str,
) {
    let now = ctx.now();
    let (ns, name, uid) = (
        obj::namespace(involved),
        obj::name(involved),
        obj::uid(involved),
    );
    let seen = ctx.list(kinds::EVENTS, Some(ns)).into_iter().find(|e| {
        e["involvedObject"]["uid"] == uid && e["reason"] == reason && e["message"] == message
    });
    if let Some(e) = seen {
        ctx.write(kinds::EVENTS, ns, obj::name(&e), |e| {
            e["count"] = json!(e["count"].as_u64().unwrap_or(1) + 1);
            e["lastTimestamp"] = json!(now);
        });
        return;
    }
    let event = json!({"metadata": {"generateName": format!("{name}."), "namespace": ns},
        "involvedObject": {"apiVersion": involved["apiVersion"].as_str().unwrap_or("kubevirt.io/v1"),
                           "kind": involved["kind"], "namespace": ns, "name": name, "uid": uid},
        "reason": reason, "type": kind, "message": message,
        "source": {"component": component}, "reportingComponent": component,
        "count": 1, "firstTimestamp": now, "lastTimestamp": now});
    let _ = ctx.create(kinds::EVENTS, event);
}

//! The eviction subresource's own check, after admission (virt-api's webhook) let the request
//! through: kubernetes pkg/registry/core/pod/storage/eviction.go `EvictionREST.Create`.

use serde_json::{json, Value};

use crate::controllers::workloads::{allowed_condition, covered};
use crate::error::{ApiError, ApiResult};
use crate::kinds;
use crate::obj;
use crate::store::{Scope, Selectors, Store};

/// What the eviction does once admitted: whether the pod may go, having counted the disruption
/// against the one budget covering it (`checkAndDecrement`).
pub fn check_budgets(store: &Store, pod: &Value, dry_run: bool) -> ApiResult<()> {
    // `canIgnorePDB`: a pod that is terminal, still Pending or already being deleted disrupts
    // nothing more.
    let phase = obj::str_at(pod, "/status/phase");
    if matches!(phase, "Succeeded" | "Failed" | "Pending") || obj::deleting(pod) {
        return Ok(());
    }
    let ns = obj::namespace(pod);
    let (pdbs, _) = store.list(kinds::PDBS, Some(ns), &Selectors::default());
    let budgets: Vec<_> = pdbs.iter().filter(|pdb| covered(pdb, pod)).collect();
    let pdb = match budgets.as_slice() {
        [] => return Ok(()),
        [one] => one,
        _ => {
            return Err(ApiError::new(
                500,
                "",
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ))
        }
    };
    let status = &pdb["status"];
    let current = status["currentHealthy"].as_i64().unwrap_or(0);
    let desired = status["desiredHealthy"].as_i64().unwrap_or(0);
    // An unready pod counts for nothing healthy: it may go while the budget is met.
    if obj::condition_is(pod, "Ready") != Some(true) && current >= desired && desired > 0 {
        return Ok(());
    }
    let name = obj::name(pdb);
    let observed = status["observedGeneration"].as_i64().unwrap_or(0);
    if observed < pdb["metadata"]["generation"].as_i64().unwrap_or(0) {
        let cause = format!("The disruption budget {name} is still being processed by the server.");
        return Err(too_many_requests(cause, 10));
    }
    let allowed = status["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed < 0 {
        return Err(forbidden(name, "pdb disruptions allowed is negative"));
    }
    if allowed == 0 {
        let cause = format!(
            "The disruption budget {name} needs {desired} healthy pods and has {current} currently"
        );
        return Err(too_many_requests(cause, 0));
    }
    let now = store.clock().timestamp();
    let pod_name = obj::name(pod).to_string();
    store
        .modify(kinds::PDBS, ns, name, Scope::Status, dry_run, |old| {
            let mut new = old.clone();
            new["status"]["disruptionsAllowed"] = json!(allowed - 1);
            allowed_condition(&mut new, &now);
            new["status"]["disruptedPods"][pod_name.as_str()] = json!(now);
            Ok(new)
        })
        .map(|_| ())
}

/// apimachinery `errors.NewTooManyRequests` with the `DisruptionBudget` cause
/// (policy/v1 `DisruptionBudgetCause`) that the eviction handler appends.
fn too_many_requests(cause: String, retry_after_seconds: u64) -> ApiError {
    let mut details = json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]});
    if retry_after_seconds > 0 {
        details["retryAfterSeconds"] = json!(retry_after_seconds);
    }
    ApiError {
        details: Some(details),
        ..ApiError::too_many_requests(
            "Cannot evict pod as it would violate the pod's disruption budget.",
        )
    }
}

/// apimachinery `errors.NewForbidden` on `poddisruptionbudget.policy`.
fn forbidden(name: &str, why: &str) -> ApiError {
    let message = format!("poddisruptionbudget.policy \"{name}\" is forbidden: {why}");
    ApiError {
        details: Some(json!({"name": name, "group": "policy", "kind": "poddisruptionbudget"})),
        ..ApiError::new(403, "Forbidden", message)
    }
}

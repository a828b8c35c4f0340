//! A policy's conditions, computed from its enactments as every node's handler computes them
//! at the end of each reconcile, and its count of nodes taken under maxUnavailable.

use serde_json::{json, Value};

use super::conditions::{self, Policy};
use crate::controllers::Ctx;
use crate::kinds;
use crate::obj;

/// The nodes a policy selects.
pub fn matching_nodes(ctx: &Ctx, policy: &Value) -> Vec<std::sync::Arc<Value>> {
    ctx.list(kinds::NODES, None)
        .into_iter()
        .filter(|n| obj::map_selects(&policy["spec"]["nodeSelector"], &obj::labels(n)))
        .collect()
}

/// The policy's enactments.
pub fn enactments(ctx: &Ctx, policy: &str) -> Vec<std::sync::Arc<Value>> {
    ctx.list(kinds::NNCES, None)
        .into_iter()
        .filter(|e| obj::label(e, "nmstate.io/policy") == Some(policy))
        .collect()
}

/// How many enactments of `generation` have condition `ty` True.
/// kubernetes-nmstate pkg/enactmentstatus/conditions/counter.go Count.
fn count(enactments: &[std::sync::Arc<Value>], generation: i64, ty: &str) -> usize {
    enactments
        .iter()
        .filter(|e| e["status"]["policyGeneration"].as_i64() == Some(generation))
        .filter(|e| conditions::status(e, ty) == Some("True"))
        .count()
}

/// kubernetes-nmstate pkg/policyconditions/conditions.go update → setPolicyStatus: Ignored
/// without nodes; Degraded as soon as an enactment is Failing (retrying or not) or Aborted;
/// Progressing until every ready node finished or while one is Pending; else Available.
pub fn update(ctx: &Ctx, name: &str) {
    let Some(policy) = ctx.get(kinds::NNCPS, "", name) else {
        return;
    };
    let generation = policy["metadata"]["generation"].as_i64().unwrap_or(1);
    let nodes = matching_nodes(ctx, &policy);
    let ready = nodes
        .iter()
        .filter(|n| obj::condition_is(n, "Ready") == Some(true))
        .count();
    let not_ready = nodes.len() - ready;
    let all = enactments(ctx, name);
    let n = |ty| count(&all, generation, ty);
    let (failed, aborted, available, pending) =
        (n("Failing"), n("Aborted"), n("Available"), n("Pending"));
    let finished = available + failed + aborted;
    let not_ready_note = if not_ready > 0 {
        format!(", {not_ready} nodes ignored due to NotReady state")
    } else {
        String::new()
    };
    let state = if nodes.is_empty() {
        Policy::NotMatching("Policy does not match any node".into())
    } else if failed > 0 || aborted > 0 {
        let aborted_note = if aborted > 0 {
            format!(", {aborted} nodes aborted configuration")
        } else {
            String::new()
        };
        Policy::FailedToConfigure(format!(
            "{failed}/{} nodes failed to configure{aborted_note}",
            nodes.len()
        ))
    } else if finished < ready {
        Policy::Progressing(format!(
            "Policy is progressing {finished}/{ready} nodes finished{not_ready_note}"
        ))
    } else if pending > 0 {
        Policy::Progressing(format!(
            "Policy is progressing {finished}/{ready} nodes finished, {pending} pending{not_ready_note}"
        ))
    } else {
        Policy::Success(format!(
            "{available}/{} nodes successfully configured{not_ready_note}",
            nodes.len()
        ))
    };
    let success = matches!(state, Policy::Success(_));
    let now = ctx.now();
    ctx.write(kinds::NNCPS, "", name, |p| {
        if success {
            p["status"]["unavailableNodeCountMap"] = json!({});
        }
        conditions::set_all(p, &conditions::policy(&state), &now);
    });
}

/// Every condition Unknown again, as a handler does when it starts on a policy that is not
/// Progressing. kubernetes-nmstate pkg/policyconditions/conditions.go Reset.
pub fn reset(ctx: &Ctx, name: &str) {
    let now = ctx.now();
    ctx.write(kinds::NNCPS, "", name, |p| {
        p["status"]["conditions"] = json!([]);
        conditions::set_all(p, &conditions::policy_unknown(), &now);
    });
}

/// Takes one of the policy's `max_unavailable` slots for `generation`; false when all are
/// taken. kubernetes-nmstate controllers/handler/nodenetworkconfigurationpolicy_controller.go
/// incrementUnavailableNodeCount (status.unavailableNodeCountMap).
pub fn take_slot(ctx: &Ctx, name: &str, generation: i64, max_unavailable: usize) -> bool {
    let mut taken = false;
    ctx.write(kinds::NNCPS, "", name, |p| {
        let key = generation.to_string();
        let used = p["status"]["unavailableNodeCountMap"][&key]
            .as_u64()
            .unwrap_or(0) as usize;
        if used < max_unavailable {
            p["status"]["unavailableNodeCountMap"][&key] = json!(used + 1);
            taken = true;
        }
    });
    taken
}

/// Gives a slot back after a successful apply; a failed node keeps its slot.
/// kubernetes-nmstate nodenetworkconfigurationpolicy_controller.go
/// tryDecrementingUnavailableNodeCount.
pub fn free_slot(ctx: &Ctx, name: &str, generation: i64) {
    ctx.write(kinds::NNCPS, "", name, |p| {
        let key = generation.to_string();
        let used = p["status"]["unavailableNodeCountMap"][&key]
            .as_u64()
            .unwrap_or(0);
        if used > 0 {
            p["status"]["unavailableNodeCountMap"][&key] = json!(used - 1);
        }
    });
}

/// Enactments of `generation` that failed for good (Failing True, Progressing False).
/// kubernetes-nmstate nodenetworkconfigurationpolicy_controller.go shouldAbortReconcile.
pub fn failed_for_good(ctx: &Ctx, name: &str, generation: i64) -> usize {
    enactments(ctx, name)
        .iter()
        .filter(|e| e["status"]["policyGeneration"].as_i64() == Some(generation))
        .filter(|e| {
            conditions::status(e, "Failing") == Some("True")
                && conditions::status(e, "Progressing") == Some("False")
        })
        .count()
}

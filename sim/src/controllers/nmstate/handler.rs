//! One node's kubernetes-nmstate handler working on one policy generation: it waits for a
//! slot under maxUnavailable (or aborts when failures used them all), applies the desired
//! state, retries a failed apply up to five times with exponential backoff, and after every
//! pass recomputes the policy's conditions.

use std::sync::Arc;

use serde_json::{json, Value};

use super::conditions::{self, Enactment};
use super::{desired, policy_status};
use crate::controllers::Ctx;
use crate::faults::Fault;
use crate::kinds;
use crate::obj;

/// kubernetes-nmstate cmd/handler/main.go defaultRetriesUntilFail (NNCP_MAX_RETRIES).
pub const RETRIES_UNTIL_FAIL: u64 = 5;
/// The handler's rate limiter: 1 s doubling up to 30 s (NNCP_INITIAL_BACKOFF_SECONDS,
/// NNCP_MAX_BACKOFF_SECONDS; cmd/handler/main.go, SetupWithManager's
/// ItemExponentialFailureRateLimiter).
const INITIAL_BACKOFF: f64 = 1.0;
const MAX_BACKOFF: f64 = 30.0;
/// pkg/client/client.go DesiredStateConfigurationTimeout (seconds), in nmstatectl's command.
const APPLY_TIMEOUT: u32 = 480;

enum Step {
    Done,
    Requeue,
}

/// Runs the handler of `node` for policy `name` at `generation` until it is done, or until a
/// newer generation takes over.
pub async fn run(ctx: Arc<Ctx>, name: String, generation: i64, node: String) {
    let mut requeues = 0;
    while let Some(step) = reconcile(&ctx, &name, generation, &node).await {
        // The deferred policyconditions.Update of every Reconcile.
        policy_status::update(&ctx, &name);
        match step {
            Step::Done => return,
            Step::Requeue => {
                let delay = (INITIAL_BACKOFF * 2f64.powi(requeues)).min(MAX_BACKOFF);
                requeues += 1;
                ctx.sleep(delay).await;
            }
        }
    }
}

/// The policy while it is still at `generation`.
fn at_generation(ctx: &Ctx, name: &str, generation: i64) -> Option<Arc<Value>> {
    ctx.get(kinds::NNCPS, "", name)
        .filter(|p| p["metadata"]["generation"].as_i64().unwrap_or(1) == generation)
}

/// kubernetes-nmstate controllers/handler/nodenetworkconfigurationpolicy_controller.go
/// Reconcile.
async fn reconcile(ctx: &Ctx, name: &str, generation: i64, node: &str) -> Option<Step> {
    let policy = at_generation(ctx, name, generation)?;
    if conditions::status(&policy, "Progressing") != Some("True") {
        policy_status::reset(ctx, name);
    }
    let previous = initialize(ctx, &policy, node)?;
    let enactment = fill_in(ctx, &policy, node)?;
    let key = generation.to_string();
    let retries = || {
        enactment["status"]["retryCount"][&key]
            .as_u64()
            .unwrap_or(0)
    };
    if retries() >= RETRIES_UNTIL_FAIL {
        return Some(Step::Done);
    }
    if !conditions::is_retrying(&previous) {
        let total = policy_status::enactments(ctx, name).len();
        let max = super::max_unavailable(&policy["spec"]["maxUnavailable"], total);
        if !policy_status::take_slot(ctx, name, generation, max) {
            notify(ctx, node, name, &Enactment::Pending);
            if policy_status::failed_for_good(ctx, name, generation) >= max {
                let why = format!("reconciliation of enactment \"{node}.{name}\" has aborted");
                notify(ctx, node, name, &Enactment::Aborted(why));
                return Some(Step::Done);
            }
            return Some(Step::Requeue);
        }
    }
    notify(ctx, node, name, &Enactment::Progressing);
    let refreshed = ctx.get(kinds::NNCPS, "", name)?;
    if conditions::status(&refreshed, "Available").is_none_or(|s| s == "Unknown") {
        policy_status::update(ctx, name);
    }
    // nmstate applying and verifying the desired state on this node (durations profile).
    ctx.sleep(ctx.spec.durations.nncp_apply).await;
    at_generation(ctx, name, generation)?;
    let attempt = retries();
    match apply(ctx, node, &enactment["status"]["desiredState"], attempt) {
        Ok(()) => {
            notify(ctx, node, name, &Enactment::Success);
            policy_status::free_slot(ctx, name, generation);
            Some(Step::Done)
        }
        Err(stderr) => Some(failed(ctx, name, node, &key, attempt + 1, &stderr)),
    }
}

/// Counts a failed apply; retries it or gives up.
fn failed(ctx: &Ctx, name: &str, node: &str, key: &str, count: u64, stderr: &str) -> Step {
    ctx.write(kinds::NNCES, "", &format!("{node}.{name}"), |e| {
        e["status"]["retryCount"][key] = json!(count);
    });
    if count >= RETRIES_UNTIL_FAIL {
        let why = format!(
            "error reconciling NodeNetworkConfigurationPolicy on node {node} at desired state apply: \"\",\n \
             , {stderr}\n: failed to execute nmstatectl apply --no-commit --timeout {APPLY_TIMEOUT}: exit status 1"
        );
        notify(ctx, node, name, &Enactment::Failed(why));
        return Step::Done;
    }
    let why = format!(
        "failed to reconcile NodeNetworkConfigurationPolicy on node {node}. Retrying {}/{RETRIES_UNTIL_FAIL}",
        count + 1
    );
    notify(ctx, node, name, &Enactment::Retrying(why));
    Step::Requeue
}

/// nmstatectl apply on the node: the new state, or nmstatectl's stderr. The
/// nncp-apply-flaky fault fails the first applies of each enactment.
fn apply(ctx: &Ctx, node: &str, desired: &Value, attempt: u64) -> Result<(), String> {
    if ctx.faults.has(Fault::NncpApplyFlaky) && attempt < ctx.faults.nncp_apply_failures() {
        return Err(
            "NmstateError: PluginFailure: vstp-sim fault nncp-apply-flaky: \
                    NetworkManager did not answer the checkpoint request in time"
                .into(),
        );
    }
    let current = super::current(ctx, node);
    let patch_ports = super::patch::ovn_patch_ports(ctx, &current);
    let next = desired::apply(&current, desired, &patch_ports)
        .map_err(|e| format!("NmstateError: {e}"))?;
    let now = ctx.now();
    ctx.write(kinds::NNSS, "", node, |s| {
        s["status"]["currentState"] = next;
        s["status"]["lastSuccessfulUpdateTime"] = json!(now);
    });
    Ok(())
}

fn notify(ctx: &Ctx, node: &str, policy: &str, state: &Enactment) {
    let now = ctx.now();
    ctx.write(kinds::NNCES, "", &format!("{node}.{policy}"), |e| {
        conditions::set_all(e, &conditions::enactment(state), &now);
    });
}

/// The node's enactment for the policy, created (owned by the Node, every condition Unknown)
/// if it is missing. kubernetes-nmstate nodenetworkconfigurationpolicy_controller.go
/// initializeEnactment, api/v1beta1 NewEnactment.
pub(super) fn initialize(ctx: &Ctx, policy: &Value, node: &str) -> Option<Arc<Value>> {
    let name = format!("{node}.{}", obj::name(policy));
    if let Some(existing) = ctx.get(kinds::NNCES, "", &name) {
        return Some(existing);
    }
    let node_object = ctx.get(kinds::NODES, "", node)?;
    let mut e = json!({"apiVersion": "nmstate.io/v1beta1", "kind": "NodeNetworkConfigurationEnactment",
        "metadata": {"name": name, "labels": {"nmstate.io/policy": obj::name(policy), "nmstate.io/node": node},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": obj::uid(&node_object)}]},
        "status": {"desiredState": {}}});
    conditions::set_all(&mut e, &conditions::enactment_unknown(), &ctx.now());
    ctx.create(kinds::NNCES, e).ok()
}

/// Writes the desired state (with kubernetes-nmstate's default VLAN filtering) and the policy
/// generation; a new generation starts with no conditions.
/// kubernetes-nmstate nodenetworkconfigurationpolicy_controller.go fillInEnactmentStatus,
/// resetPolicyGeneration.
fn fill_in(ctx: &Ctx, policy: &Value, node: &str) -> Option<Arc<Value>> {
    let generation = policy["metadata"]["generation"].clone();
    let desired = desired::with_default_vlan_filtering(&policy["spec"]["desiredState"]);
    ctx.write(
        kinds::NNCES,
        "",
        &format!("{node}.{}", obj::name(policy)),
        |e| {
            if e["status"]["policyGeneration"] != generation {
                e["status"]["conditions"] = json!([]);
            }
            e["status"]["policyGeneration"] = generation;
            e["status"]["desiredState"] = desired;
            e["status"]["desiredStateMetaInfo"] = json!({"version": "0"});
        },
    )
}

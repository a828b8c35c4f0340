//! kubernetes-nmstate: a NodeNetworkState per node, and NodeNetworkConfigurationPolicies
//! applied by every selected node's handler (at most maxUnavailable at once, a failed apply
//! retried), with an enactment per node and the policy's conditions computed from them.

pub mod conditions;
pub mod desired;
mod handler;
pub mod initial;
mod patch;
mod policy_status;
mod ports;
mod vlan;

use std::sync::Arc;

use serde_json::Value;

use super::Ctx;
use crate::kinds;
use crate::obj;

/// The NodeNetworkState a fresh node reports (`initial.rs`).
pub fn initial_state(node: &Value) -> Value {
    initial::state(node)
}

/// The node's current network state (the NodeNetworkState's `currentState`).
pub fn current(ctx: &Ctx, node: &str) -> Value {
    ctx.get(kinds::NNSS, "", node)
        .map(|s| s["status"]["currentState"].clone())
        .unwrap_or(Value::Null)
}

pub fn reconcile(ctx: &Arc<Ctx>, name: &str) {
    let Some(policy) = ctx.get(kinds::NNCPS, "", name) else {
        forget(ctx, name);
        return;
    };
    let generation = policy["metadata"]["generation"].as_i64().unwrap_or(1);
    let started = ctx
        .state()
        .nncp_generations
        .insert(name.to_string(), generation);
    if started == Some(generation) {
        return;
    }
    start_handlers(ctx, &policy, generation);
}

/// Every node's handler reconciles the new generation: a node the policy no longer selects
/// drops its enactment, the others create theirs and work on it in parallel.
/// kubernetes-nmstate controllers/handler/nodenetworkconfigurationpolicy_controller.go
/// Reconcile (deleteEnactmentForPolicy, initializeEnactment).
fn start_handlers(ctx: &Arc<Ctx>, policy: &Value, generation: i64) {
    let name = obj::name(policy).to_string();
    let nodes: Vec<String> = policy_status::matching_nodes(ctx, policy)
        .iter()
        .map(|n| obj::name(n).to_string())
        .collect();
    for e in policy_status::enactments(ctx, &name) {
        if !nodes
            .iter()
            .any(|n| obj::label(&e, "nmstate.io/node") == Some(n))
        {
            ctx.delete(kinds::NNCES, "", obj::name(&e));
        }
    }
    // The handler pod of a node whose kubelet stopped reporting stays bound (a DaemonSet pod
    // tolerates `node.kubernetes.io/unreachable`) but the node is gone: nothing reconciles
    // there, and the policy's conditions leave the node out as NotReady
    // (pkg/policyconditions/conditions.go calculatePolicyConditionStatus, FilterReady).
    let reachable: Vec<String> = nodes
        .into_iter()
        .filter(|n| {
            ctx.get(kinds::NODES, "", n)
                .is_some_and(|n| obj::condition_is(&n, "Ready") == Some(true))
        })
        .collect();
    if reachable.is_empty() {
        // The handlers of the other nodes still compute the policy's conditions: every
        // handler resets and updates them whether its node matches or not (Reconcile).
        policy_status::reset(ctx, &name);
        policy_status::update(ctx, &name);
        return;
    }
    for node in &reachable {
        handler::initialize(ctx, policy, node);
    }
    for node in reachable {
        tokio::spawn(handler::run(ctx.clone(), name.clone(), generation, node));
    }
}

/// A deleted policy leaves the nodes as they are (nmstate does not roll back) and takes its
/// enactments with it.
fn forget(ctx: &Ctx, name: &str) {
    ctx.state().nncp_generations.remove(name);
    for e in policy_status::enactments(ctx, name) {
        ctx.delete(kinds::NNCES, "", obj::name(&e));
    }
}

/// `maxUnavailable` as a count of nodes (an integer or a percentage, rounded up; default and
/// fallback for a bad value 50%), at least one.
/// kubernetes-nmstate pkg/node/nodes.go ScaledMaxUnavailableNodeCount.
pub fn max_unavailable(value: &Value, nodes: usize) -> usize {
    let count = match value {
        Value::Number(n) => n.as_u64().unwrap_or(1) as usize,
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<usize>().ok()) {
            Some(percent) => (nodes * percent).div_ceil(100),
            // intstr.GetScaledValueFromIntOrPercent refuses a string without '%'.
            None => nodes.div_ceil(2),
        },
        _ => nodes.div_ceil(2),
    };
    count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn max_unavailable_rounds_percentages_up_and_never_below_one() {
        assert_eq!(max_unavailable(&json!("50%"), 3), 2);
        assert_eq!(max_unavailable(&Value::Null, 3), 2);
        assert_eq!(max_unavailable(&json!(1), 3), 1);
        assert_eq!(max_unavailable(&json!("10%"), 3), 1);
        assert_eq!(max_unavailable(&json!(0), 3), 1);
        assert_eq!(max_unavailable(&json!("100%"), 6), 6);
        assert_eq!(max_unavailable(&json!("2"), 6), 3);
    }
}

//! kubernetes-nmstate: a NodeNetworkState per node, and NodeNetworkConfigurationPolicies
//! applied node by node (at most maxUnavailable at once) with an enactment per node and the
//! policy's conditions exactly as the reference table words them.

pub mod desired;

use std::sync::Arc;

use serde_json::{json, Value};

use super::Ctx;
use crate::kinds;
use crate::obj;

/// Modelled time nmstate takes to apply and verify a desired state on one node.
const APPLY_SECS: f64 = 5.0;

/// The NodeNetworkState a fresh node reports: its NICs (the first carries the node address
/// and is the port of OVN's `br-ex`, mapped as the default `physnet`), and loopback.
pub fn initial_state(node: &Value) -> Value {
    let nics = obj::annotation(node, "vstp.io/nics").unwrap_or("eth0");
    let address = node["status"]["addresses"][0]["address"]
        .as_str()
        .unwrap_or("");
    let mut interfaces = vec![json!({"name": "lo", "type": "loopback", "state": "up"})];
    for (i, nic) in nics.split(',').enumerate() {
        let mut iface = json!({"name": nic, "type": "ethernet", "state": "up", "mtu": 1500,
                               "ipv4": {"enabled": false}, "ipv6": {"enabled": false}});
        if i == 0 {
            iface["ipv4"] = json!({"enabled": true, "dhcp": true, "address": [{"ip": address, "prefix-length": 24}]});
        }
        interfaces.push(iface);
    }
    let first = nics.split(',').next().unwrap_or("eth0");
    interfaces.push(json!({"name": "br-ex", "type": "ovs-bridge", "state": "up", "bridge": {"port": [{"name": first}]}}));
    json!({"metadata": {"name": obj::name(node)},
           "status": {"currentState": {"interfaces": interfaces, "ovn": {"bridge-mappings": [{"localnet": "physnet", "bridge": "br-ex"}]}},
                      "lastSuccessfulUpdateTime": null}})
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
    let ctx = ctx.clone();
    let name = name.to_string();
    tokio::spawn(async move { enact(&ctx, &name, generation).await });
}

/// A deleted policy leaves the nodes as they are (nmstate does not roll back) and takes its
/// enactments with it.
fn forget(ctx: &Ctx, name: &str) {
    ctx.state().nncp_generations.remove(name);
    for e in ctx.list(kinds::NNCES, None) {
        if obj::label(&e, "nmstate.io/policy") == Some(name) {
            ctx.delete(kinds::NNCES, "", obj::name(&e));
        }
    }
}

/// Whether the policy is still at `generation` (a newer spec takes over).
fn current_generation(ctx: &Ctx, name: &str, generation: i64) -> Option<Arc<Value>> {
    ctx.get(kinds::NNCPS, "", name)
        .filter(|p| p["metadata"]["generation"].as_i64().unwrap_or(1) == generation)
}

async fn enact(ctx: &Arc<Ctx>, name: &str, generation: i64) -> Option<()> {
    let policy = current_generation(ctx, name, generation)?;
    let nodes: Vec<String> = ctx
        .list(kinds::NODES, None)
        .iter()
        .filter(|n| obj::map_selects(&policy["spec"]["nodeSelector"], &obj::labels(n)))
        .map(|n| obj::name(n).to_string())
        .collect();
    let total = nodes.len();
    if total == 0 {
        set_policy(ctx, name, Outcome::Ignored);
        return Some(());
    }
    let batch = max_unavailable(&policy["spec"]["maxUnavailable"], total);
    set_policy(ctx, name, Outcome::Progressing { done: 0, total });
    for node in &nodes {
        write_enactment(ctx, &policy, node, Enactment::Pending);
    }
    let (mut done, mut failed) = (0, 0);
    for wave in nodes.chunks(batch) {
        let policy = current_generation(ctx, name, generation)?;
        if failed > 0 {
            wave.iter()
                .for_each(|n| write_enactment(ctx, &policy, n, Enactment::Aborted));
            continue;
        }
        wave.iter()
            .for_each(|n| write_enactment(ctx, &policy, n, Enactment::Progressing));
        ctx.sleep(APPLY_SECS).await;
        let policy = current_generation(ctx, name, generation)?;
        for node in wave {
            match configure(ctx, node, &policy["spec"]["desiredState"]) {
                Ok(()) => write_enactment(ctx, &policy, node, Enactment::Available),
                Err(why) => {
                    failed += 1;
                    write_enactment(ctx, &policy, node, Enactment::Failing(why));
                }
            }
            done += 1;
        }
        if done < total {
            set_policy(ctx, name, Outcome::Progressing { done, total });
        }
    }
    current_generation(ctx, name, generation)?;
    let outcome = if failed > 0 {
        Outcome::Degraded { failed, total }
    } else {
        Outcome::Available { total }
    };
    set_policy(ctx, name, outcome);
    Some(())
}

/// Applies `desired` to one node's state, or leaves it untouched and says why.
fn configure(ctx: &Ctx, node: &str, desired: &Value) -> Result<(), String> {
    let next = desired::apply(&current(ctx, node), desired)?;
    let now = ctx.now();
    ctx.write(kinds::NNSS, "", node, |s| {
        s["status"]["currentState"] = next;
        s["status"]["lastSuccessfulUpdateTime"] = json!(now);
    });
    Ok(())
}

/// `maxUnavailable` as a count of nodes (an integer or a percentage, rounded up; default
/// 50%), at least one.
pub fn max_unavailable(value: &Value, nodes: usize) -> usize {
    let count = match value {
        Value::Number(n) => n.as_u64().unwrap_or(1) as usize,
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<usize>().ok()) {
            Some(percent) => (nodes * percent).div_ceil(100),
            None => s.parse().unwrap_or(1),
        },
        _ => nodes.div_ceil(2),
    };
    count.max(1)
}

enum Outcome {
    Progressing { done: usize, total: usize },
    Available { total: usize },
    Degraded { failed: usize, total: usize },
    Ignored,
}

/// The policy's four conditions for `outcome` (reference §8 table).
fn set_policy(ctx: &Ctx, name: &str, outcome: Outcome) {
    let (progressing, available, degraded, ignored, reason, message) = match outcome {
        Outcome::Progressing { done, total } => (
            "True",
            "Unknown",
            "Unknown",
            "False",
            "ConfigurationProgressing",
            format!("Policy is progressing {done}/{total} nodes finished"),
        ),
        Outcome::Available { total } => (
            "False",
            "True",
            "False",
            "False",
            "SuccessfullyConfigured",
            format!("{total}/{total} nodes successfully configured"),
        ),
        Outcome::Degraded { failed, total } => (
            "False",
            "False",
            "True",
            "False",
            "FailedToConfigure",
            format!("{failed}/{total} nodes failed to configure"),
        ),
        Outcome::Ignored => (
            "False",
            "False",
            "False",
            "True",
            "NoMatchingNode",
            "Policy does not match any node".to_string(),
        ),
    };
    let now = ctx.now();
    ctx.write(kinds::NNCPS, "", name, |p| {
        let statuses = [
            ("Available", available),
            ("Degraded", degraded),
            ("Progressing", progressing),
            ("Ignored", ignored),
        ];
        set_conditions(p, &statuses, reason, &message, &now);
    });
}

enum Enactment {
    Pending,
    Progressing,
    Available,
    Failing(String),
    Aborted,
}

fn write_enactment(ctx: &Ctx, policy: &Value, node: &str, state: Enactment) {
    let policy_name = obj::name(policy);
    let name = format!("{node}.{policy_name}");
    let (active, reason, message) = match &state {
        Enactment::Pending => (
            "Pending",
            "MaxUnavailableLimitReached",
            "Waiting for other nodes to finish (maxUnavailable)".to_string(),
        ),
        Enactment::Progressing => (
            "Progressing",
            "ConfigurationProgressing",
            "Applying desired state".to_string(),
        ),
        Enactment::Available => (
            "Available",
            "SuccessfullyConfigured",
            "successfully reconciled".to_string(),
        ),
        Enactment::Failing(why) => (
            "Failing",
            "FailedToConfigure",
            format!("error reconciling NodeNetworkConfigurationPolicy on node {node}: {why}"),
        ),
        Enactment::Aborted => (
            "Aborted",
            "ConfigurationAborted",
            "Configuration aborted because another node failed to configure".to_string(),
        ),
    };
    let statuses: Vec<(&str, &str)> = ["Failing", "Available", "Progressing", "Pending", "Aborted"]
        .iter()
        .map(|ty| (*ty, if *ty == active { "True" } else { "False" }))
        .collect();
    let now = ctx.now();
    let generation = policy["metadata"]["generation"].clone();
    let desired = policy["spec"]["desiredState"].clone();
    let fill = |e: &mut Value| {
        e["status"]["desiredState"] = desired.clone();
        e["status"]["policyGeneration"] = generation.clone();
        e["status"]["desiredStateMetaInfo"] = json!({"version": "0"});
        set_conditions(e, &statuses, reason, &message, &now);
    };
    if ctx.write(kinds::NNCES, "", &name, fill).is_none() {
        let mut e = json!({"apiVersion": "nmstate.io/v1beta1", "kind": "NodeNetworkConfigurationEnactment",
            "metadata": {"name": name, "labels": {"nmstate.io/policy": policy_name, "nmstate.io/node": node},
                         "ownerReferences": [{"apiVersion": "nmstate.io/v1", "kind": "NodeNetworkConfigurationPolicy",
                                              "name": policy_name, "uid": obj::uid(policy)}]}});
        fill(&mut e);
        let _ = ctx.create(kinds::NNCES, e);
    }
}

/// Sets every listed condition; the one that is True carries `reason` and `message`.
/// lastTransitionTime moves only when a status changes.
fn set_conditions(
    object: &mut Value,
    statuses: &[(&str, &str)],
    reason: &str,
    message: &str,
    now: &str,
) {
    let old = object["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let conditions: Vec<Value> = statuses
        .iter()
        .map(|(ty, status)| {
            let before = old.iter().find(|c| c["type"] == *ty);
            let since = before.filter(|c| c["status"] == *status).map_or(json!(now), |c| c["lastTransitionTime"].clone());
            let lead = *status == "True" || (*ty == "Progressing" && reason == "ConfigurationProgressing");
            let (r, m) = if lead { (reason, message) } else { ("", "") };
            json!({"type": ty, "status": status, "reason": r, "message": m, "lastHeartbeatTime": now, "lastTransitionTime": since})
        })
        .collect();
    object["status"]["conditions"] = Value::Array(conditions);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_unavailable_rounds_percentages_up_and_never_below_one() {
        assert_eq!(max_unavailable(&json!("50%"), 3), 2);
        assert_eq!(max_unavailable(&Value::Null, 3), 2);
        assert_eq!(max_unavailable(&json!(1), 3), 1);
        assert_eq!(max_unavailable(&json!("10%"), 3), 1);
        assert_eq!(max_unavailable(&json!(0), 3), 1);
        assert_eq!(max_unavailable(&json!("100%"), 6), 6);
    }
}

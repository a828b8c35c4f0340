//! Node network policies: waiting for a change to be applied on every matching node, and
//! handing node networking back.

use std::time::Duration;

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};

use super::kinds;
use super::retry::retrying;
use super::wait::condition::{entry as condition_entry, status_of as condition};
use super::wait::Watch;

/// Waits until policy `name` settles after a change made after `since` (a resourceVersion
/// read before it): not Available at some point, then Available. Degraded or Ignored is an
/// error carrying the policy's message.
pub async fn settled_after(
    client: &kube::Client,
    name: &str,
    since: &str,
    budget: Duration,
) -> anyhow::Result<Value> {
    let mut changed = false;
    let outcome = Watch::object(client, kinds::NNCP, "", name)
        .since(since)
        .until(
            &format!("NNCP {name} to become Available"),
            budget,
            |seen| {
                let policy = seen.get(name)?;
                for failed in ["Degraded", "Ignored"] {
                    if condition(policy, failed) == Some("True") {
                        let message = condition_entry(policy, failed)?["message"].clone();
                        return Some(Err(anyhow::anyhow!(
                            "NNCP {name} is {failed}: {}",
                            message.as_str().unwrap_or("")
                        )));
                    }
                }
                if condition(policy, "Available") != Some("True") {
                    changed = true;
                    return None;
                }
                changed.then(|| Ok(policy.clone()))
            },
        )
        .await?;
    outcome
}

/// Sets everything policy `name` created to absent and waits until the nodes applied it.
pub async fn release(client: &kube::Client, name: &str, budget: Duration) -> anyhow::Result<()> {
    let api = kinds::NNCP.api(client, "");
    let policy = match retrying(|| api.get_opt(name)).await? {
        Some(policy) => super::kinds::to_value(&policy),
        None => return Ok(()),
    };
    let desired = &policy["spec"]["desiredState"];
    if already_absent(desired) {
        return Ok(());
    }
    let since = policy["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let patch = json!({"spec": {"desiredState": absent(desired)}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    retrying(|| api.patch(name, &params, &patch))
        .await
        .with_context(|| format!("cannot set the interfaces of NNCP {name} absent"))?;
    settled_after(client, name, &since, budget)
        .await
        .with_context(|| format!("node networking of NNCP {name} was not handed back"))?;
    Ok(())
}

fn already_absent(desired: &Value) -> bool {
    desired["interfaces"]
        .as_array()
        .is_some_and(|all| all.iter().all(|i| i["state"] == "absent"))
}

/// The desired state that undoes `desired`: every interface and bridge mapping absent.
pub fn absent(desired: &Value) -> Value {
    let interfaces: Vec<Value> = desired["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| json!({"name": i["name"], "type": i["type"], "state": "absent"}))
        .collect();
    let mut undo = json!({"interfaces": interfaces});
    if let Some(mappings) = desired["ovn"]["bridge-mappings"].as_array() {
        let mappings: Vec<Value> = mappings
            .iter()
            .map(|m| json!({"localnet": m["localnet"], "state": "absent"}))
            .collect();
        undo["ovn"] = json!({"bridge-mappings": mappings});
    }
    undo
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_undo_of_a_bridge_mapping_policy_removes_bridge_and_mapping() {
        let desired = json!({"interfaces": [{"name": "ovs-br1", "type": "ovs-bridge", "state": "up",
            "bridge": {"port": [{"name": "eth1"}]}}],
            "ovn": {"bridge-mappings": [{"localnet": "physnet1", "bridge": "ovs-br1", "state": "present"}]}});
        assert_eq!(
            absent(&desired),
            json!({"interfaces": [{"name": "ovs-br1", "type": "ovs-bridge", "state": "absent"}],
                   "ovn": {"bridge-mappings": [{"localnet": "physnet1", "state": "absent"}]}})
        );
    }
}

//! Node network policies: waiting for a change to be applied on every matching node, and
//! handing node networking back.

use std::time::Duration;

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};

use super::kinds;
use super::retry::retrying;
use super::teardown::absent;
use super::wait::{condition, condition_entry, Watch};

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
        Some(policy) => super::wait::to_value(&policy),
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

//! Node network policies: waiting for a change to be applied on every matching node, and
//! handing node networking back.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{json, Value};

use super::kinds;
use super::retry::retrying;
use super::wait::condition::{entry as condition_entry, status_of as condition};
use super::wait::Watch;

/// Waits until policy `name` settles after a change made after `since` (a resourceVersion
/// read before it): not Available at some point, then Available. Ignored is an error, and so
/// is Degraded once an enactment failed for good or aborted; a policy that is Degraded while
/// its enactments retry a failed apply (kubernetes-nmstate retries up to five times) is
/// followed on, as it can still end Available.
pub async fn settled_after(
    client: &kube::Client,
    name: &str,
    since: &str,
    budget: Duration,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + budget;
    let mut since = since.to_string();
    let mut changed = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (kind, policy) = next_outcome(client, name, &since, left, &mut changed).await?;
        let message = condition_entry(&policy, kind)
            .and_then(|c| c["message"].as_str())
            .unwrap_or("")
            .to_string();
        match kind {
            "Available" => return Ok(policy),
            "Degraded" => {
                if let Some(failed) = failed_enactment(client, &policy).await? {
                    anyhow::bail!("NNCP {name} is Degraded: {message}; {failed}");
                }
                // Enactments still retry: follow on from this version.
                since = policy["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
            }
            _ => anyhow::bail!("NNCP {name} is {kind}: {message}"),
        }
    }
}

/// The next version of the policy that is Available (after not being so), Degraded or
/// Ignored, with the condition that holds.
async fn next_outcome(
    client: &kube::Client,
    name: &str,
    since: &str,
    budget: Duration,
    changed: &mut bool,
) -> anyhow::Result<(&'static str, Value)> {
    let outcome = Watch::object(client, kinds::NNCP, "", name)
        .since(since)
        .until(
            &format!("NNCP {name} to become Available"),
            budget,
            |seen| {
                let policy = seen.get(name)?;
                for troubled in ["Degraded", "Ignored"] {
                    if condition(policy, troubled) == Some("True") {
                        return Some((troubled, policy.clone()));
                    }
                }
                if condition(policy, "Available") != Some("True") {
                    *changed = true;
                    return None;
                }
                changed.then(|| ("Available", policy.clone()))
            },
        )
        .await?;
    Ok(outcome)
}

/// An enactment of the policy's generation that failed for good (Failing and not
/// Progressing) or aborted, as "<enactment>: <message>"; none while they retry or wait.
/// kubernetes-nmstate pkg/enactmentstatus/status.go IsRetrying, controllers/handler
/// nodenetworkconfigurationpolicy_controller.go shouldAbortReconcile.
async fn failed_enactment(client: &kube::Client, policy: &Value) -> anyhow::Result<Option<String>> {
    let name = policy["metadata"]["name"].as_str().unwrap_or("");
    let params = ListParams::default().labels(&format!("nmstate.io/policy={name}"));
    let api = kinds::NNCE.api(client, "");
    let list = retrying(|| api.list(&params))
        .await
        .with_context(|| format!("cannot list the enactments of NNCP {name}"))?;
    let generation = &policy["metadata"]["generation"];
    for e in list.items.iter().map(kinds::to_value) {
        if e["status"]["policyGeneration"] != *generation {
            continue;
        }
        let is = |ty: &str, status: &str| condition(&e, ty) == Some(status);
        let failed = is("Failing", "True") && is("Progressing", "False");
        if failed || is("Aborted", "True") {
            let ty = if failed { "Failing" } else { "Aborted" };
            let message = condition_entry(&e, ty)
                .and_then(|c| c["message"].as_str())
                .unwrap_or("");
            let enactment = e["metadata"]["name"].as_str().unwrap_or("");
            return Ok(Some(format!("enactment {enactment} is {ty}: {message}")));
        }
    }
    Ok(None)
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

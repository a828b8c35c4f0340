//! kubernetes-nmstate and nmstate: policies enacted by every selected node's handler under
//! maxUnavailable, failed applies retried, conditions with upstream's reasons and messages,
//! and what nmstate refuses (VLAN filtering, OVN's patch ports).

mod ovs;
mod policy;
mod retries;
mod state_shape;
mod vlan;

use futures::TryStreamExt;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{json, Value};

use super::*;

pub(crate) fn nnces(c: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        c.clone(),
        &resource(
            "nmstate.io",
            "v1beta1",
            "NodeNetworkConfigurationEnactment",
            "nodenetworkconfigurationenactments",
        ),
    )
}

pub(crate) fn nnss(c: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        c.clone(),
        &resource(
            "nmstate.io",
            "v1beta1",
            "NodeNetworkState",
            "nodenetworkstates",
        ),
    )
}

/// A policy on every worker with `desired`, and `spec` merged into its spec.
pub(crate) fn worker_policy(name: &str, desired: Value, spec: Value) -> DynamicObject {
    let mut policy = json!({"apiVersion": "nmstate.io/v1", "kind": "NodeNetworkConfigurationPolicy", "metadata": {"name": name},
        "spec": {"nodeSelector": {"node-role.kubernetes.io/worker": ""}, "desiredState": desired}});
    json_patch::merge(&mut policy["spec"], &spec);
    serde_json::from_value(policy).unwrap()
}

pub(crate) async fn create(client: &kube::Client, policy: DynamicObject) {
    nncps(client)
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
}

/// The condition that is True on `o`, as (type, message).
pub(crate) fn true_condition(o: &Value) -> Option<(String, String)> {
    let c = o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["status"] == "True")?;
    Some((
        c["type"].as_str()?.to_string(),
        c["message"].as_str().unwrap_or("").to_string(),
    ))
}

/// (type, status, reason) of every condition of `o`.
pub(crate) fn reasons(o: &Value) -> Vec<(String, String, String)> {
    o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
            (s("type"), s("status"), s("reason"))
        })
        .collect()
}

/// An enactment that will not change again: Available, Aborted, or Failing for good.
fn finished(e: &Value) -> bool {
    let is = |ty: &str, status: &str| cond(e, ty).as_deref() == Some(status);
    is("Available", "True")
        || is("Aborted", "True")
        || (is("Failing", "True") && is("Progressing", "False"))
}

/// A policy has settled: Available or Ignored, or Degraded once every enactment of its
/// generation finished (none retrying, applying or pending).
fn settled(policy: &Value, enactments: &[Value]) -> bool {
    let generation = &policy["metadata"]["generation"];
    let current: Vec<&Value> = enactments
        .iter()
        .filter(|e| e["status"]["policyGeneration"] == *generation)
        .collect();
    match true_condition(policy) {
        Some((ty, _)) if ty == "Available" || ty == "Ignored" => true,
        Some((ty, message)) if ty == "Degraded" => {
            !current.is_empty()
                && current.iter().all(|e| finished(e))
                && counts_all(&message, &current)
        }
        _ => false,
    }
}

/// Whether the Degraded message already counts every failed and aborted enactment (the
/// policy is written after its enactments).
fn counts_all(message: &str, enactments: &[&Value]) -> bool {
    let count = |ty: &str| {
        enactments
            .iter()
            .filter(|e| cond(e, ty).as_deref() == Some("True"))
            .count()
    };
    let (failed, aborted) = (count("Failing"), count("Aborted"));
    message.starts_with(&format!("{failed}/"))
        && (aborted == 0 || message.ends_with(&format!(", {aborted} nodes aborted configuration")))
}

/// Every distinct (true condition, message) of policy `name` until it settles, following
/// the policy and its enactments in one watch each.
pub(crate) async fn progress_of(client: &kube::Client, name: &str) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let (mut policy, mut enactments) = (Value::Null, std::collections::BTreeMap::new());
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let by_policy = watcher::Config::default().labels(&format!("nmstate.io/policy={name}"));
    let done = tokio::time::timeout(BUDGET, async {
        let policies = watcher::watcher(nncps(client), cfg);
        let nnce = watcher::watcher(nnces(client), by_policy);
        let mut both = std::pin::pin!(futures::stream::select(
            policies.map_ok(|e| (true, e)),
            nnce.map_ok(|e| (false, e))
        ));
        while let Some((is_policy, ev)) = both.try_next().await.unwrap() {
            let (watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = ev else {
                continue;
            };
            let o = value(&o);
            if is_policy {
                policy = o;
                if let Some(now) = true_condition(&policy) {
                    if seen.last() != Some(&now) {
                        seen.push(now);
                    }
                }
            } else {
                enactments.insert(o["metadata"]["name"].to_string(), o);
            }
            let all: Vec<Value> = enactments.values().cloned().collect();
            if settled(&policy, &all) {
                return;
            }
        }
    })
    .await;
    assert!(done.is_ok(), "{name} never settled: {seen:?}");
    seen
}

/// (true condition, message) of each enactment of policy `name`, sorted.
pub(crate) async fn enactment_states(client: &kube::Client, name: &str) -> Vec<(String, String)> {
    let params = ListParams::default().labels(&format!("nmstate.io/policy={name}"));
    let mut states: Vec<(String, String)> = nnces(client)
        .list(&params)
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|e| true_condition(&value(e)))
        .collect();
    states.sort();
    states
}

pub(crate) fn interface<'a>(state: &'a Value, name: &str) -> Option<&'a Value> {
    state["status"]["currentState"]["interfaces"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)
}

/// Bumps the policy's generation with `desired` as its new desired state.
pub(crate) async fn set_desired(client: &kube::Client, name: &str, desired: Value) {
    let patch = json!({"spec": {"desiredState": desired}});
    nncps(client)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
}

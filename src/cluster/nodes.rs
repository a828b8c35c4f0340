//! Node operations a scenario makes, without shelling out: the schedulable workers, a cordon
//! registered in the scenario's scope (so teardown uncordons it whatever happens in between),
//! and a drain through the eviction API. Marking a node itself is `cordon.rs`.

use kube::api::ListParams;

use super::cordon;
use super::kinds;
use super::kinds::to_value;
use super::retry::retrying;
use super::scope::Scope;

/// Marks `node` unschedulable and remembers it in `scope` for teardown.
pub async fn cordon(scope: &Scope, node: &str) -> anyhow::Result<()> {
    scope.cordoned(node);
    cordon::set_unschedulable(scope.client(), node, Some(scope.run_id())).await
}

/// Schedulable workers, by name.
pub async fn workers(client: &kube::Client) -> anyhow::Result<Vec<String>> {
    let api = kinds::NODE.api(client, "");
    let params = ListParams::default().labels("node-role.kubernetes.io/worker");
    let listed = retrying(|| api.list(&params)).await?;
    Ok(listed
        .items
        .iter()
        .map(to_value)
        .filter(|n| n["spec"]["unschedulable"] != true)
        .filter_map(|n| n["metadata"]["name"].as_str().map(String::from))
        .collect())
}

/// Draining lives in `drain.rs`; callers keep reaching it here.
pub use super::drain::{drain, Drained};

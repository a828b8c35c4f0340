//! A cordon a scenario makes, registered in the scenario's scope (so teardown uncordons it
//! whatever happens in between). Marking a node itself is `cordon.rs`; draining, `drain.rs`.

use super::cordon;
use super::scope::Scope;

/// Marks `node` unschedulable and remembers it in `scope` for teardown.
pub async fn cordon(scope: &Scope, node: &str) -> anyhow::Result<()> {
    scope.cordoned(node);
    cordon::set_unschedulable(scope.client(), node, Some(scope.run_id())).await
}

/// The InternalIP of `node` (its `status.addresses`): the address traffic leaving the cluster
/// from a pod on that node is translated to.
pub async fn internal_ip(client: &kube::Client, node: &str) -> anyhow::Result<std::net::IpAddr> {
    use anyhow::Context as _;
    let api = super::kinds::NODE.api(client, "");
    let found = super::retry::retrying(|| api.get(node))
        .await
        .with_context(|| format!("cannot read node {node}"))?;
    let found = super::kinds::to_value(&found);
    let addresses = found["status"]["addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let internal = addresses
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str()?.parse().ok());
    internal.with_context(|| format!("node {node} reports no InternalIP: {addresses:?}"))
}

//! Node operations a scenario makes, without shelling out: a cordon registered in the
//! scenario's scope (so teardown uncordons it whatever happens in between), and a drain
//! through the eviction API of a usable node (`usable.rs`). Marking a node itself is
//! `cordon.rs`.

use super::cordon;
use super::scope::Scope;
use super::usable::{self, NodeSelection};

/// Marks `node` unschedulable and remembers it in `scope` for teardown.
pub async fn cordon(scope: &Scope, node: &str) -> anyhow::Result<()> {
    scope.cordoned(node);
    cordon::set_unschedulable(scope.client(), node, Some(scope.run_id())).await
}

/// Drains a usable node (see `drain.rs` for how); what it moves needs another usable node.
pub async fn drain(
    scope: &Scope,
    node: &str,
    budget: std::time::Duration,
) -> anyhow::Result<Drained> {
    drainable(scope.client(), node).await?;
    super::drain::drain(scope, node, budget).await
}

pub use super::drain::Drained;

/// A drain is for a usable node, and needs another usable node for what it moves.
async fn drainable(client: &kube::Client, node: &str) -> anyhow::Result<()> {
    let selection = usable::select(client).await?;
    if let Some(excluded) = selection.excluded.iter().find(|e| e.name == node) {
        let why: Vec<String> = excluded.why.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "node {node} is not one the harness uses: {}",
            why.join(", ")
        );
    }
    let others = NodeSelection {
        usable: selection
            .usable
            .iter()
            .filter(|n| n.name != node)
            .cloned()
            .collect(),
        excluded: selection.excluded.clone(),
    };
    others.at_least(1, &format!("draining node {node}"))?;
    Ok(())
}

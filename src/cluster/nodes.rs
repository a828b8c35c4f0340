//! A cordon a scenario makes, registered in the scenario's scope (so teardown uncordons it
//! whatever happens in between). Marking a node itself is `cordon.rs`; draining, `drain.rs`.

use super::cordon;
use super::scope::Scope;

/// Marks `node` unschedulable and remembers it in `scope` for teardown.
pub async fn cordon(scope: &Scope, node: &str) -> anyhow::Result<()> {
    scope.cordoned(node);
    cordon::set_unschedulable(scope.client(), node, Some(scope.run_id())).await
}

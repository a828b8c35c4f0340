//! Removing what a run created, shared by a scenario's own teardown and `vstp cleanup`.
//! Node networking is handed back symmetrically: an NNCP first sets everything it created to
//! `state: absent` and waits until the nodes applied that, and only then is deleted, because a
//! deleted policy leaves its bridges on the nodes.

use std::time::Duration;

use serde_json::{json, Value};

use super::budget::{Budgets, Wait};
use super::kinds::{self, Kind};
use super::nmstate;
use super::scope::delete;
use super::wait::Watch;

/// Deletes `name` and waits (watching) until it is gone.
pub async fn delete_and_wait(
    client: &kube::Client,
    kind: Kind,
    ns: &str,
    name: &str,
    budget: Duration,
) -> anyhow::Result<()> {
    delete(client, &kind, ns, name).await?;
    Watch::object(client, kind, ns, name)
        .until_gone(&format!("{} {name} to be deleted", kind.kind), budget)
        .await?;
    Ok(())
}

/// Removes one cluster-scoped object the run owns, NNCPs symmetrically.
pub async fn remove(
    client: &kube::Client,
    kind: Kind,
    name: &str,
    budgets: &Budgets,
) -> anyhow::Result<()> {
    if kind == kinds::NNCP {
        nmstate::release(client, name, budgets.of(Wait::NodeNetwork)).await?;
    }
    delete_and_wait(client, kind, "", name, budgets.of(Wait::Deletion)).await
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

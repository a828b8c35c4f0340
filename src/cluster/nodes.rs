//! Node operations a scenario makes, without shelling out: a cordon registered in the
//! scenario's scope (so teardown uncordons it whatever happens in between), and a drain
//! through the eviction API of a usable node (`usable.rs`). Marking a node itself is
//! `cordon.rs`.

use std::time::Duration;

use anyhow::Context as _;
use kube::api::{Api, EvictParams, ListParams};

use super::cordon;
use super::kinds;
use super::retry::retrying;
use super::scope::Scope;
use super::usable::{self, NodeSelection};
use super::wait::Watch;

/// Marks `node` unschedulable and remembers it in `scope` for teardown.
pub async fn cordon(scope: &Scope, node: &str) -> anyhow::Result<()> {
    scope.cordoned(node);
    cordon::set_unschedulable(scope.client(), node, Some(scope.run_id())).await
}

/// Cordons `node` and evicts every pod on it that a drain moves (not DaemonSet pods, not
/// mirror pods), repeating an eviction the API refuses with 429 (a disruption budget or an
/// evacuation in progress) until it is allowed, then waits until the node is empty.
pub async fn drain(scope: &Scope, node: &str, budget: Duration) -> anyhow::Result<()> {
    drainable(scope.client(), node).await?;
    cordon(scope, node).await?;
    let client = scope.client();
    let on_node = format!("spec.nodeName={node}");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::all(client.clone());
    let params = ListParams::default().fields(&on_node);
    let listed = retrying(|| pods.list(&params)).await?;
    let evict_all = async {
        for pod in listed.items.iter().filter(|p| drained(p)) {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            let name = pod.metadata.name.as_deref().unwrap_or("");
            evict(client, ns, name).await?;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(budget, evict_all)
        .await
        .map_err(|_| anyhow::anyhow!("node {node}: evictions still refused after {budget:?}"))??;
    Watch::all(client, kinds::POD, "")
        .fields(&on_node)
        .until(&format!("node {node} to be drained"), budget, |seen| {
            seen.values()
                .all(|p| !drained_value(p) || p["metadata"]["deletionTimestamp"].is_string())
                .then_some(())
        })
        .await?;
    Ok(())
}

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

/// Evicts one pod; a 429 is the API saying "not yet", so the eviction is asked again.
async fn evict(client: &kube::Client, ns: &str, name: &str) -> anyhow::Result<()> {
    let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), ns);
    let mut refusals = 0u32;
    loop {
        match api.evict(name, &EvictParams::default()).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) if super::retry::transient(&e) => {
                refusals += 1;
                tokio::time::sleep(super::retry::pause(refusals, &e)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot evict pod {ns}/{name}")),
        }
    }
}

fn drained(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    serde_json::to_value(pod).is_ok_and(|p| drained_value(&p))
}

/// Whether a drain moves this pod: DaemonSet and mirror pods stay.
fn drained_value(pod: &serde_json::Value) -> bool {
    let daemon = pod["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|o| o["kind"] == "DaemonSet");
    let mirror = pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string();
    !daemon && !mirror
}

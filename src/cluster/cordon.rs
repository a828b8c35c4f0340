//! Cordoning a node and taking it back, recorded on the node itself (the annotation names the
//! run), so a scenario's teardown and `vstp cleanup` uncordon exactly the nodes a run cordoned.

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::kinds::{self, to_value};
use super::retry::retrying;

/// The annotation naming the run that cordoned a node, so `vstp cleanup` can uncordon the
/// nodes of a crashed run and only those.
pub const CORDONED_BY: &str = "vstp.io/cordoned-by";

pub async fn set_unschedulable(
    client: &kube::Client,
    node: &str,
    by: Option<&str>,
) -> anyhow::Result<()> {
    let api = kinds::NODE.api(client, "");
    let on = by.is_some();
    let patch = json!({"metadata": {"annotations": {CORDONED_BY: by}},
        "spec": {"unschedulable": on}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    retrying(|| api.patch(node, &params, &patch))
        .await
        .with_context(|| {
            format!(
                "cannot {} node {node}",
                if on { "cordon" } else { "uncordon" }
            )
        })?;
    Ok(())
}

pub async fn uncordon(client: &kube::Client, node: &str) -> anyhow::Result<()> {
    set_unschedulable(client, node, None).await
}

/// Whether `node` is marked unschedulable.
pub async fn is_cordoned(client: &kube::Client, node: &str) -> anyhow::Result<bool> {
    let api = kinds::NODE.api(client, "");
    let found = retrying(|| api.get(node)).await?;
    Ok(to_value(&found)["spec"]["unschedulable"] == true)
}

//! Removing what a run created, shared by a scenario's own teardown and `vstp cleanup`.
//! Node networking is handed back symmetrically: an NNCP first sets everything it created to
//! `state: absent` and waits until the nodes applied that, and only then is deleted, because a
//! deleted policy leaves its bridges on the nodes.

use std::time::Duration;

use anyhow::Context as _;
use kube::api::DeleteParams;

use super::budget::{Budgets, Wait};
use super::kinds::{self, Kind};
use super::nmstate;
use super::retry::retrying;
use super::wait::Watch;

/// Deletes `name` of `kind` now (foreground), treating "already gone" as done.
pub(crate) async fn delete(
    client: &kube::Client,
    kind: &Kind,
    ns: &str,
    name: &str,
) -> anyhow::Result<()> {
    let api = kind.api(client, ns);
    let params = DeleteParams::foreground();
    match retrying(|| api.delete(name, &params)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot delete {} {name}", kind.kind)),
    }
}

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

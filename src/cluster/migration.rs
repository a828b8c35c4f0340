//! Live migrations as the user sees them: one asked for with a VMIM, or one KubeVirt starts by
//! itself (the workload updater's `kubevirt-workload-update-…`, a drain's
//! `kubevirt-evacuation-…`). Each is followed to its end and described by its own UID, so a
//! mode or a phase is never read from another migration of the same VMI.

use kube::api::ListParams;
use serde_json::{json, Value};

use super::budget::Wait;
use super::kinds;
use super::retry::retrying;
use super::scope::Scope;
use super::wait::{condition, Watch};

/// A migration that ended, with the VMI as it was when it had.
#[derive(Debug, Clone)]
pub struct Finished {
    pub vmim: Value,
    pub vmi: Value,
}

impl Finished {
    pub fn name(&self) -> &str {
        self.vmim["metadata"]["name"].as_str().unwrap_or("")
    }

    pub fn uid(&self) -> &str {
        self.vmim["metadata"]["uid"].as_str().unwrap_or("")
    }

    /// The VMI's migrationState, if it describes this migration.
    pub fn state(&self) -> Option<&Value> {
        let state = &self.vmi["status"]["migrationState"];
        (state["migrationUid"] == self.uid()).then_some(state)
    }

    /// `PreCopy`, `PostCopy` or `Paused`, as reported for this migration.
    pub fn mode(&self) -> Option<&str> {
        self.state()?["mode"].as_str()
    }
}

/// The moment before a change: the VMI's resourceVersion (waits replay from it) and the
/// migrations of the VMI that already existed (so an old one is never taken for the new one).
#[derive(Debug, Clone)]
pub struct Mark {
    pub vmi: String,
    pub since: String,
    pub earlier: Vec<String>,
}

/// Marks the moment before a change to `vmi`.
pub async fn mark(scope: &Scope, vmi: &str) -> anyhow::Result<Mark> {
    let since = super::vms::resource_version(&super::vms::get(scope, kinds::VMI, vmi).await?);
    let api = kinds::VMIM.api(scope.client(), scope.ns());
    let params = ListParams::default().labels(&format!("kubevirt.io/vmi-name={vmi}"));
    let listed = retrying(|| api.list(&params)).await?;
    Ok(Mark {
        vmi: vmi.into(),
        since,
        earlier: listed
            .items
            .iter()
            .filter_map(|m| m.metadata.name.clone())
            .collect(),
    })
}

/// The migrations of the marked VMI created after the mark, by name.
pub async fn since(scope: &Scope, mark: &Mark) -> anyhow::Result<Vec<String>> {
    let api = kinds::VMIM.api(scope.client(), scope.ns());
    let params = ListParams::default().labels(&format!("kubevirt.io/vmi-name={}", mark.vmi));
    let listed = retrying(|| api.list(&params)).await?;
    Ok(listed
        .items
        .iter()
        .filter_map(|m| m.metadata.name.clone())
        .filter(|n| !mark.earlier.contains(n))
        .collect())
}

/// Asks KubeVirt to migrate `vmi` and follows the migration to Succeeded.
pub async fn migrate(scope: &Scope, vmi: &str) -> anyhow::Result<Finished> {
    let since = mark(scope, vmi).await?.since;
    let vmim = json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"generateName": format!("{vmi}-migration-")}, "spec": {"vmiName": vmi}});
    let created = scope.create(kinds::VMIM, vmim).await?;
    let name = created["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    succeeded(scope, vmi, &name, &since).await
}

/// Waits for a migration of the marked VMI named `<prefix>…` that did not exist at the mark to
/// succeed.
pub async fn started_by_kubevirt(
    scope: &Scope,
    mark: &Mark,
    prefix: &str,
) -> anyhow::Result<Finished> {
    let name = new_migration(scope, mark, prefix).await?;
    succeeded(scope, &mark.vmi, &name, &mark.since).await
}

/// The VMIM of the first new `<prefix>…` migration of the marked VMI, in its final phase
/// (Succeeded or Failed), whichever it is.
pub async fn ended_by_kubevirt(scope: &Scope, mark: &Mark, prefix: &str) -> anyhow::Result<Value> {
    let name = new_migration(scope, mark, prefix).await?;
    Ok(ended(scope, &name).await?)
}

async fn new_migration(scope: &Scope, mark: &Mark, prefix: &str) -> anyhow::Result<String> {
    let budget = scope.budgets.of(Wait::Migration);
    let vmi = &mark.vmi;
    let name = Watch::all(scope.client(), kinds::VMIM, scope.ns())
        .labels(&format!("kubevirt.io/vmi-name={vmi}"))
        .until(
            &format!("a new {prefix}… migration of {vmi}"),
            budget,
            |seen| {
                seen.keys()
                    .find(|n| n.starts_with(prefix) && !mark.earlier.contains(n))
                    .cloned()
            },
        )
        .await;
    match name {
        Ok(name) => Ok(name),
        // Whether KubeVirt ever asked for the migration is on the VMI, not on the migrations.
        Err(e) => match super::vms::get(scope, kinds::VMI, vmi).await {
            Ok(v) => Err(anyhow::anyhow!(
                "{e}; {vmi} now: {}",
                super::wait::state_of(&v)
            )),
            Err(_) => Err(e.into()),
        },
    }
}

async fn ended(scope: &Scope, name: &str) -> Result<Value, super::wait::WaitError> {
    Watch::object(scope.client(), kinds::VMIM, scope.ns(), name)
        .until_object(
            &format!("migration {name} to end"),
            scope.budgets.of(Wait::Migration),
            |m| matches!(m["status"]["phase"].as_str(), Some("Succeeded" | "Failed")),
        )
        .await
}

/// Follows VMIM `name` until Succeeded (Failed is an error with its reason), then reads the
/// VMI once its migrationState for that migration is completed.
async fn succeeded(scope: &Scope, vmi: &str, name: &str, since: &str) -> anyhow::Result<Finished> {
    let budget = scope.budgets.of(Wait::Migration);
    let vmim = ended(scope, name).await?;
    anyhow::ensure!(
        vmim["status"]["phase"] == "Succeeded",
        "migration {name} of {vmi} failed: {}",
        super::wait::state_of(&vmim)
    );
    let uid = vmim["metadata"]["uid"].clone();
    let vmi = Watch::object(scope.client(), kinds::VMI, scope.ns(), vmi)
        .since(since)
        .until_object(
            &format!("VMI {vmi} to record migration {name} as completed"),
            budget,
            |v| {
                let state = &v["status"]["migrationState"];
                state["migrationUid"] == uid && state["completed"] == true
            },
        )
        .await?;
    Ok(Finished { vmim, vmi })
}

/// Waits until `vmi` shows condition `kind` True at some point after `since` and then no
/// longer does; returns the condition as it was while set.
pub async fn condition_cycle(scope: &Scope, mark: &Mark, kind: &str) -> anyhow::Result<Value> {
    let (vmi, since) = (mark.vmi.as_str(), mark.since.as_str());
    let mut raised: Option<Value> = None;
    let budget = scope.budgets.of(Wait::Migration);
    Watch::object(scope.client(), kinds::VMI, scope.ns(), vmi)
        .since(since)
        .until(
            &format!("condition {kind} on VMI {vmi} to be set and then cleared"),
            budget,
            |seen| {
                let v = seen.get(vmi)?;
                if condition(v, kind) == Some("True") {
                    raised = super::wait::condition_entry(v, kind).cloned();
                    return None;
                }
                raised.clone()
            },
        )
        .await
        .map_err(Into::into)
}

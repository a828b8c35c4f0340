//! Live migrations as the user sees them: one asked for with a VMIM, or one KubeVirt starts by
//! itself (the workload updater for a live update, the evacuation controller for a drain).
//! Each is found as new since a mark, followed to its end by name, and described by its own
//! UID, so a mode or a phase is never read from another migration of the same VMI.

use std::fmt;

use kube::api::ListParams;
use serde_json::{json, Value};

use std::sync::Arc;

use super::status::{Condition, MigrationMode, MigrationState, Vmi};
use crate::cluster::budget::Wait;
use crate::cluster::kinds;
use crate::cluster::retry::retrying;
use crate::cluster::scope::Scope;
use crate::cluster::wait::condition::{self, is};
use crate::cluster::wait::describe::state_of;
use crate::cluster::wait::Watch;

/// Who starts a migration KubeVirt runs by itself, by the name prefix its controller gives the
/// VMIM (`pkg/virt-controller/watch/workload-updater` and `…/drain/evacuation` upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The workload updater applying a live update (networks, CPU, memory, NICs).
    WorkloadUpdate,
    /// The evacuation controller moving a VMI off a draining node.
    Evacuation,
}

impl Trigger {
    pub fn prefix(self) -> &'static str {
        match self {
            Trigger::WorkloadUpdate => "kubevirt-workload-update-",
            Trigger::Evacuation => "kubevirt-evacuation-",
        }
    }
}

/// The moment before a change: the VMI as it was (waits replay from its resourceVersion, a
/// migration must move it off its node) and the migrations that already existed (so an old
/// one is never taken for the new one).
#[derive(Debug, Clone)]
pub struct Mark {
    pub vmi: Vmi,
    pub earlier: Vec<String>,
}

impl Mark {
    pub async fn take(scope: &Scope, vmi: &str) -> anyhow::Result<Mark> {
        let vmi = read_vmi(scope, vmi).await?;
        let earlier = migration_names(scope, vmi.name()).await?;
        Ok(Mark { vmi, earlier })
    }

    pub fn name(&self) -> &str {
        self.vmi.name()
    }

    pub fn version(&self) -> &str {
        &self.vmi.metadata.resource_version
    }

    fn is_new(&self, migration: &str) -> bool {
        !self.earlier.iter().any(|m| m == migration)
    }
}

/// The VMI is no longer the one with `uid` running: it failed (its launcher pod went, say), or
/// it was replaced by a new one of the same name (its VM started another). A wait on the VMI
/// gives up on it at once, naming what it saw, instead of timing out.
pub fn vmi_lost(uid: &str) -> impl condition::Condition {
    let uid = uid.to_string();
    let what = format!("failed or replaced (the VMI followed had UID {uid})");
    is(what, move |o| {
        o["status"]["phase"] == "Failed" || o["metadata"]["uid"] != uid.as_str()
    })
}

/// What became of the marked VMI, when it is not the one running any more: failed, or
/// replaced by a new VMI.
fn lost(mark: &Mark, now: &Vmi) -> Option<String> {
    let (before, after) = (&mark.vmi.metadata.uid, &now.metadata.uid);
    if before != after {
        return Some(format!(
            "VMI {} was replaced: UID {before} before, {after} now (its VM started a new one: the VM restarted)",
            mark.name()
        ));
    }
    (now.status.phase == "Failed").then(|| {
        format!(
            "VMI {} failed (phase Failed): its guest is gone",
            mark.name()
        )
    })
}

/// The VMI `name` as it is now.
pub async fn read_vmi(scope: &Scope, name: &str) -> anyhow::Result<Vmi> {
    let api = kinds::VMI.api(scope.client(), scope.ns());
    let found = retrying(|| api.get(name)).await.map_err(|e| match e {
        // The VM deleted it (to start a new one, or because it was stopped): a lost guest,
        // not a read that failed.
        kube::Error::Api(status) if status.code == 404 => anyhow::anyhow!(
            "VMI {name} is gone from {} (its VM deleted it: the VM restarted or stopped)",
            scope.ns()
        ),
        e => anyhow::anyhow!("cannot read VMI {name} in {}: {e}", scope.ns()),
    })?;
    Vmi::from_value(&kinds::to_value(&found))
}

fn by_vmi(vmi: &str) -> String {
    format!("kubevirt.io/vmi-name={vmi}")
}

async fn migration_names(scope: &Scope, vmi: &str) -> anyhow::Result<Vec<String>> {
    let api = kinds::VMIM.api(scope.client(), scope.ns());
    let params = ListParams::default().labels(&by_vmi(vmi));
    let listed = retrying(|| api.list(&params)).await?;
    Ok(listed
        .items
        .iter()
        .filter_map(|m| m.metadata.name.clone())
        .collect())
}

/// The migrations of the marked VMI created after the mark, by name.
pub async fn since(scope: &Scope, mark: &Mark) -> anyhow::Result<Vec<String>> {
    let all = migration_names(scope, mark.name()).await?;
    Ok(all.into_iter().filter(|n| mark.is_new(n)).collect())
}

/// A migration in its final phase, with the VMI as it was once the migration was recorded.
#[derive(Debug, Clone)]
pub struct Ended {
    pub name: String,
    pub uid: String,
    pub succeeded: bool,
    /// Why it failed, as the VMI's migration state says.
    pub failure: String,
    pub vmi: Vmi,
}

/// A migration that succeeded and was confirmed as upstream's `ConfirmVMIPostMigration`
/// confirms one: the VMI records this migration's UID as completed, with start and end
/// timestamps, on a node other than the one it left.
#[derive(Clone)]
pub struct Migrated {
    pub name: String,
    pub uid: String,
    pub from: String,
    pub to: String,
    pub mode: Option<MigrationMode>,
    pub policy: Option<String>,
    /// The VMI right after the migration.
    pub vmi: Vmi,
    scope: Arc<Scope>,
    mark: Mark,
}

impl Migrated {
    /// The guest was paused during the migration and is not any more: replays the VMI from
    /// before the migration for its Paused condition set and then cleared.
    pub async fn paused_and_resumed(&self) -> anyhow::Result<()> {
        condition_cycle(&self.scope, &self.mark, "Paused").await?;
        Ok(())
    }
}

/// Waits until VMI condition `kind` is True at some point after `mark` and then no longer is;
/// returns the condition as it was while set.
pub async fn condition_cycle(scope: &Scope, mark: &Mark, kind: &str) -> anyhow::Result<Condition> {
    let name = mark.name();
    let mut raised: Option<Condition> = None;
    Watch::object(scope.client(), kinds::VMI, scope.ns(), name)
        .since(mark.version())
        .failing_on(vmi_lost(&mark.vmi.metadata.uid))
        .until(
            &format!("condition {kind} on VMI {name} to be set and then cleared"),
            scope.budget(Wait::Migration),
            |seen| {
                let vmi = Vmi::from_value(seen.get(name)?).ok()?;
                match vmi.condition(kind).filter(|c| c.is_true()) {
                    Some(set) => {
                        raised = Some(set.clone());
                        None
                    }
                    None => raised.clone(),
                }
            },
        )
        .await
        .map_err(Into::into)
}

impl fmt::Display for Migrated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "migration {} ({} → {})", self.name, self.from, self.to)
    }
}

/// Asks KubeVirt to migrate the marked VMI and follows the migration to its confirmation.
pub async fn migrate(scope: &Arc<Scope>, mark: &Mark) -> anyhow::Result<Migrated> {
    let vmi = mark.name();
    let vmim = json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"generateName": format!("{vmi}-migration-")}, "spec": {"vmiName": vmi}});
    let created = scope.create(kinds::VMIM, vmim).await?;
    let name = created["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    confirmed(ended(scope, mark, &name).await?, scope, mark)
}

/// Asks KubeVirt to migrate the marked VMI to `node`: the VMIM's `spec.addedNodeSelector`
/// (kubevirt v1.9.0 staging/src/kubevirt.io/api/core/v1/types.go
/// VirtualMachineInstanceMigrationSpec.AddedNodeSelector, merged into the target pod's node
/// selector by pkg/virt-controller/services/template.go) narrows the target to that node.
/// Returns the VMIM's name; [`follow`] follows it.
pub async fn request_to(scope: &Scope, mark: &Mark, node: &str) -> anyhow::Result<String> {
    let vmi = mark.name();
    let vmim = json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"generateName": format!("{vmi}-migration-")},
        "spec": {"vmiName": vmi, "addedNodeSelector": {"kubernetes.io/hostname": node}}});
    let created = scope.create(kinds::VMIM, vmim).await?;
    Ok(created["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string())
}

/// Follows migration `name` of the marked VMI to its confirmation.
pub async fn follow(scope: &Arc<Scope>, mark: &Mark, name: &str) -> anyhow::Result<Migrated> {
    confirmed(ended(scope, mark, name).await?, scope, mark)
}

/// The first migration `trigger` started for the marked VMI after the mark, followed to its
/// final phase, whichever it is.
pub async fn ended_by(scope: &Scope, mark: &Mark, trigger: Trigger) -> anyhow::Result<Ended> {
    let name = new_migration(scope, mark, trigger).await?;
    ended(scope, mark, &name).await
}

/// Ends only when the first migration `trigger` starts after the mark fails, with the error
/// that names it; otherwise never (a success, or no migration within the budget, is for the
/// caller's own waits to judge). Raced against a wait that a failed migration would leave
/// hanging (a condition KubeVirt keeps set while it retries, a drain whose pod cannot leave),
/// it turns that wait's timeout into the migration's own failure.
pub async fn first_failure(scope: &Arc<Scope>, mark: &Mark, trigger: Trigger) -> anyhow::Error {
    match ended_by(scope, mark, trigger).await {
        Ok(ended) if !ended.succeeded => match confirmed(ended, scope, mark) {
            Err(failure) => failure,
            Ok(_) => std::future::pending().await,
        },
        _ => std::future::pending().await,
    }
}

/// The same, required to succeed and confirmed.
pub async fn migrated_by(
    scope: &Arc<Scope>,
    mark: &Mark,
    trigger: Trigger,
) -> anyhow::Result<Migrated> {
    confirmed(ended_by(scope, mark, trigger).await?, scope, mark)
}

async fn new_migration(scope: &Scope, mark: &Mark, trigger: Trigger) -> anyhow::Result<String> {
    let (vmi, prefix) = (mark.name(), trigger.prefix());
    let awaited = format!("a new {prefix}… migration of {vmi}");
    let found = Watch::all(scope.client(), kinds::VMIM, scope.ns())
        .labels(&by_vmi(vmi))
        .until(&awaited, scope.budget(Wait::Migration), |seen| {
            seen.keys()
                .find(|n| n.starts_with(prefix) && mark.is_new(n))
                .cloned()
        });
    // A guest KubeVirt let go without migrating it (a launcher pod evicted outright, say) is
    // seen as such at once, rather than as a migration that never came.
    let found = tokio::select! {
        found = found => found,
        lost = lost_first(scope, mark, &awaited) => match started(scope, mark, trigger).await {
            // The migration came before the loss (one that failed, or left the VMI behind):
            // what became of it is for the caller to judge.
            Some(name) => Ok(name),
            None => return Err(lost),
        },
    };
    match found {
        Ok(name) => Ok(name),
        // Whether KubeVirt ever asked for the migration is on the VMI, not on the migrations.
        Err(e) => {
            let api = kinds::VMI.api(scope.client(), scope.ns());
            match retrying(|| api.get(vmi)).await {
                Ok(now) => Err(anyhow::anyhow!(
                    "{e}; {vmi} now: {}",
                    state_of(&kinds::to_value(&now))
                )),
                Err(_) => Err(e.into()),
            }
        }
    }
}

/// A migration `trigger` started after the mark, if one exists now.
async fn started(scope: &Scope, mark: &Mark, trigger: Trigger) -> Option<String> {
    let new = since(scope, mark).await.ok()?;
    new.into_iter().find(|n| n.starts_with(trigger.prefix()))
}

/// Ends only when the marked VMI is lost (failed, or replaced by its VM) before `awaited`
/// came, with an error saying so; otherwise never.
async fn lost_first(scope: &Scope, mark: &Mark, awaited: &str) -> anyhow::Error {
    let seen = Watch::object(scope.client(), kinds::VMI, scope.ns(), mark.name())
        .since(mark.version())
        .until_met(
            &vmi_lost(&mark.vmi.metadata.uid),
            scope.budget(Wait::Migration),
        )
        .await;
    let what = seen
        .ok()
        .and_then(|o| lost(mark, &Vmi::from_value(&o).ok()?));
    match what {
        Some(what) => anyhow::anyhow!(
            "{what}, while waiting for {awaited}: the guest was let go without being migrated"
        ),
        None => std::future::pending().await,
    }
}

/// Follows VMIM `name` to Succeeded or Failed, then replays the VMI until its migration state
/// records that migration as completed (a failed one: the VMI as it is).
async fn ended(scope: &Scope, mark: &Mark, name: &str) -> anyhow::Result<Ended> {
    let budget = scope.budget(Wait::Migration);
    let vmim = Watch::object(scope.client(), kinds::VMIM, scope.ns(), name)
        .until_object(&format!("migration {name} to end"), budget, |m| {
            matches!(m["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
        })
        .await?;
    let uid = vmim["metadata"]["uid"].as_str().unwrap_or("").to_string();
    let succeeded = vmim["status"]["phase"] == "Succeeded";
    // A failed migration may never have reached the VMI (no target pod, say); a successful
    // one is over only once the VMI records it.
    let vmi = if succeeded {
        let vmi = Watch::object(scope.client(), kinds::VMI, scope.ns(), mark.name())
            .since(mark.version())
            .failing_on(vmi_lost(&mark.vmi.metadata.uid))
            .until_object(
                &format!(
                    "VMI {} to record migration {name} as completed",
                    mark.name()
                ),
                budget,
                |v| completed(v, &uid),
            )
            .await?;
        Vmi::from_value(&vmi)?
    } else {
        read_vmi(scope, mark.name()).await?
    };
    // The VMIM carries its own migration state; the VMI's is kept until the next migration.
    let own = vmim["status"]["migrationState"]["failureReason"].as_str();
    let on_vmi = vmi.migration(&uid).map(|s| s.failure_reason.as_str());
    let failure = [own, on_vmi].into_iter().flatten().find(|r| !r.is_empty());
    let mut failure = failure.map_or_else(|| state_of(&vmim), str::to_string);
    if let Some(lost) = lost(mark, &vmi) {
        failure = format!("{failure}; {lost}");
    }
    Ok(Ended {
        name: name.into(),
        succeeded,
        failure,
        uid,
        vmi,
    })
}

fn completed(vmi: &Value, uid: &str) -> bool {
    let state = &vmi["status"]["migrationState"];
    state["migrationUid"] == uid && state["completed"] == true
}

/// `ended` as a confirmed success, or an error saying which part of the confirmation failed.
fn confirmed(ended: Ended, scope: &Arc<Scope>, mark: &Mark) -> anyhow::Result<Migrated> {
    let state = judged(&ended, mark)?;
    let (mode, policy) = (state.mode, state.migration_policy_name.clone());
    Ok(Migrated {
        mode,
        policy,
        from: mark.vmi.node().to_string(),
        to: ended.vmi.node().to_string(),
        name: ended.name,
        uid: ended.uid,
        vmi: ended.vmi,
        scope: scope.clone(),
        mark: mark.clone(),
    })
}

/// The VMI's record of `ended` when it confirms a success; else what failed, the migration's
/// own failure first.
fn judged<'a>(ended: &'a Ended, mark: &Mark) -> anyhow::Result<&'a MigrationState> {
    let vmi = mark.name();
    anyhow::ensure!(
        ended.succeeded,
        "migration {} of {vmi} failed: {}",
        ended.name,
        ended.failure
    );
    let state = ended.vmi.migration(&ended.uid).ok_or_else(|| {
        anyhow::anyhow!(
            "the VMI's migrationState does not describe migration {}",
            ended.uid
        )
    })?;
    check_state(state, &ended.name)?;
    let (from, to) = (mark.vmi.node(), ended.vmi.node());
    anyhow::ensure!(
        !to.is_empty() && to != from,
        "migration {} of {vmi} succeeded but the VMI is still on {from:?} (now {to:?})",
        ended.name
    );
    Ok(state)
}

fn check_state(state: &MigrationState, name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        state.completed && !state.failed,
        "the VMI does not record migration {name} as completed: {state:?}"
    );
    anyhow::ensure!(
        state.start_timestamp.is_some() && state.end_timestamp.is_some(),
        "migration {name} has no start or end timestamp on the VMI: {state:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::wait::condition::Condition as _;

    fn vmi(uid: &str, phase: &str) -> Value {
        json!({"metadata": {"name": "vm-a", "uid": uid, "resourceVersion": "1"},
               "status": {"phase": phase}})
    }

    fn mark(uid: &str) -> Mark {
        Mark {
            vmi: Vmi::from_value(&vmi(uid, "Running")).unwrap(),
            earlier: Vec::new(),
        }
    }

    /// Migration m1 ended (`succeeded` or not) with the VMI on `node`, its state as given.
    fn ended(succeeded: bool, node: &str, state: Value) -> Ended {
        let vmi = json!({"metadata": {"name": "vm-a", "uid": "u1"},
                         "status": {"nodeName": node, "migrationState": state}});
        Ended {
            name: "m1".into(),
            uid: "uid-m1".into(),
            succeeded,
            failure: "Live migration stuck for 30 sec and has been aborted".into(),
            vmi: Vmi::from_value(&vmi).unwrap(),
        }
    }

    fn recorded(failed: bool) -> Value {
        json!({"migrationUid": "uid-m1", "completed": true, "failed": failed,
               "startTimestamp": "t0", "endTimestamp": "t1"})
    }

    #[test]
    fn a_success_is_confirmed_only_completed_on_another_node() {
        let mut on_a = mark("u1");
        on_a.vmi.status.node_name = "node-a".into();
        let judge = |e: &Ended| judged(e, &on_a).map(drop).map_err(|e| e.to_string());
        assert_eq!(judge(&ended(true, "node-b", recorded(false))), Ok(()));
        let failed = judge(&ended(false, "node-b", recorded(true))).unwrap_err();
        assert!(
            failed.starts_with("migration m1 of vm-a failed: Live migration stuck"),
            "{failed}"
        );
        let stayed = judge(&ended(true, "node-a", recorded(false))).unwrap_err();
        assert!(stayed.contains("is still on \"node-a\""), "{stayed}");
        let unrecorded = judge(&ended(true, "node-b", json!({"migrationUid": "other"})));
        assert!(unrecorded.unwrap_err().contains("does not describe"));
        let untimed = json!({"migrationUid": "uid-m1", "completed": true});
        let untimed = judge(&ended(true, "node-b", untimed)).unwrap_err();
        assert!(untimed.contains("no start or end timestamp"), "{untimed}");
    }

    #[test]
    fn a_failed_or_replaced_vmi_is_named_with_what_was_seen() {
        let running = Vmi::from_value(&vmi("u1", "Running")).unwrap();
        assert_eq!(lost(&mark("u1"), &running), None);
        let failed = Vmi::from_value(&vmi("u1", "Failed")).unwrap();
        let said = lost(&mark("u1"), &failed).unwrap();
        assert!(said.contains("failed (phase Failed)"), "{said}");
        let replaced = Vmi::from_value(&vmi("u2", "Running")).unwrap();
        let said = lost(&mark("u1"), &replaced).unwrap();
        assert!(said.contains("UID u1 before, u2 now"), "{said}");

        let gone = vmi_lost("u1");
        assert!(!gone.matches(&vmi("u1", "Running")));
        assert!(gone.matches(&vmi("u1", "Failed")));
        assert!(gone.matches(&vmi("u2", "Running")));
        assert!(gone.describe().contains("u1"));
    }
}

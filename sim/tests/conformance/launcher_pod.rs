//! A virt-launcher pod that goes away: the VMI it ran fails and its VM boots a new one; a
//! migration loses with it.

use futures::TryStreamExt;
use kube::api::{DeleteParams, ListParams, PostParams, WatchEvent, WatchParams};

use super::*;

/// A migration that copies slowly enough (80 modelled seconds) for a pod to go during it.
async fn slow_migration_policy(client: &kube::Client) {
    let p: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "migrations.kubevirt.io/v1alpha1", "kind": "MigrationPolicy",
        "metadata": {"name": "slow"},
        "spec": {"selectors": {"virtualMachineInstanceSelector": {"app": "vm1"}}, "bandwidthPerMigration": "1Mi"}}),
    )
    .unwrap();
    api(client, "MigrationPolicy", "migrationpolicies")
        .create(&PostParams::default(), &p)
        .await
        .unwrap();
}

/// The VMI's uid and the resource version to watch its replacement from.
fn uid_and_version(vmi: &Value) -> (String, String) {
    let field = |f: &str| vmi["metadata"][f].as_str().unwrap().to_string();
    (field("uid"), field("resourceVersion"))
}

/// The launcher pods of VMI `uid` matching `extra` (a label selector, may be empty).
async fn launcher_pods(client: &kube::Client, uid: &str, extra: &str) -> Vec<Value> {
    let mut selector = format!("kubevirt.io/created-by={uid}");
    if !extra.is_empty() {
        selector += &format!(",{extra}");
    }
    let list = pods(client)
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap();
    list.items.iter().map(value).collect()
}

async fn delete_pod(client: &kube::Client, pod: &Value) {
    let name = pod["metadata"]["name"].as_str().unwrap();
    pods(client)
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
}

/// Follows VMI `name` from resourceVersion `since` of the one with `uid` until a new one's
/// agent connects; returns the versions of the old one seen, and the new one.
async fn replaced(
    client: &kube::Client,
    name: &str,
    uid: &str,
    since: &str,
) -> (Vec<Value>, Value) {
    let params = WatchParams::default().fields(&format!("metadata.name={name}"));
    let mut history = Vec::new();
    let follow = async {
        let stream = vmis(client).watch(&params, since).await.unwrap();
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.try_next().await.unwrap() {
            if let WatchEvent::Added(o) | WatchEvent::Modified(o) = event {
                let v = value(&o);
                let done = v["metadata"]["uid"] != uid
                    && cond(&v, "AgentConnected").as_deref() == Some("True");
                history.push(v);
                if done {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(BUDGET, follow)
        .await
        .expect("the VMI was replaced and booted in time");
    let old: Vec<Value> = history
        .iter()
        .filter(|v| v["metadata"]["uid"] == uid)
        .cloned()
        .collect();
    (old, history.last().unwrap().clone())
}

/// kubevirt v1.9.0 pkg/virt-controller/watch/vmi/lifecycle.go `updateStatus`: a Running VMI
/// whose pod (`CurrentVMIPod`) does not exist is set Failed, with Ready=False/PodNotExists
/// (`syncReadyConditionFromPod`); pkg/virt-controller/watch/vm/vm.go `syncRunStrategy`: a VM
/// with `runStrategy: Always` stops the final VMI and starts a new one, which boots anew.
#[tokio::test]
async fn a_deleted_launcher_pod_fails_the_vmi_and_an_always_vm_boots_a_new_one() {
    let (_sim, client) = cluster().await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let (uid, since) = uid_and_version(&vmi);
    logged_in(&client, "default", "vm1", "cloud-user").await;
    let boot_id = ssh(&client, "vm1", KEY_FILE, BOOT_ID).await.unwrap().0;
    let running = launcher_pods(&client, &uid, "").await;
    assert_eq!(running.len(), 1, "one launcher pod: {running:?}");
    delete_pod(&client, &running[0]).await;

    let (old, new) = replaced(&client, "vm1", &uid, &since).await;
    let failed = old
        .iter()
        .find(|v| v["status"]["phase"] == "Failed")
        .unwrap_or_else(|| panic!("the old VMI never went Failed: {old:?}"));
    let ready = condition(failed, "Ready").unwrap();
    assert_eq!(
        (&ready["status"], &ready["reason"]),
        (&json!("False"), &json!("PodNotExists"))
    );
    assert_ne!(new["metadata"]["uid"], uid.as_str());
    // The new guest's sshd listens a while after its agent connects.
    logged_in(&client, "default", "vm1", "cloud-user").await;
    let again = ssh(&client, "vm1", KEY_FILE, BOOT_ID).await.unwrap().0;
    assert_ne!(again, boot_id, "the new VMI's guest booted anew");
}

/// kubevirt v1.9.0 pkg/virt-controller/watch/migration/migration.go `updateStatus`: a target
/// pod removed during an active migration fails it (Warning `FailedMigration` "Migration target
/// pod was removed during active migration."), and `handleMarkMigrationFailedOnVMI` records
/// "Target pod is down" in the VMI's migrationState; the VMI keeps running on its source.
#[tokio::test]
async fn a_migration_whose_target_pod_goes_fails_and_the_vmi_stays_on_its_source() {
    let (_sim, client) = cluster().await;
    slow_migration_policy(&client).await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let (uid, node) = (
        vmi["metadata"]["uid"].as_str().unwrap().to_string(),
        vmi["status"]["nodeName"].clone(),
    );
    let running = running_migration(&client, "vm1").await;
    let name = running["metadata"]["name"].as_str().unwrap();
    let job = format!(
        "kubevirt.io/migrationJobUID={}",
        running["metadata"]["uid"].as_str().unwrap()
    );
    let target = launcher_pods(&client, &uid, &job).await;
    assert_eq!(target.len(), 1, "one target pod: {target:?}");
    delete_pod(&client, &target[0]).await;

    let (_, failed) = phases_of(&client, name).await;
    assert_eq!(failed["status"]["phase"], "Failed");
    let after = value(&vmis(&client).get("vm1").await.unwrap());
    assert_eq!(
        (
            after["metadata"]["uid"].as_str(),
            after["status"]["phase"].as_str(),
            &after["status"]["nodeName"]
        ),
        (Some(uid.as_str()), Some("Running"), &node),
        "the VMI stays where it ran"
    );
    let state = &after["status"]["migrationState"];
    assert_eq!(
        (&state["failed"], &state["failureReason"]),
        (&json!(true), &json!("Target pod is down"))
    );
    let events = api(&client, "Event", "events")
        .list(&Default::default())
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .map(value)
            .any(|e| e["involvedObject"]["name"] == name
                && e["reason"] == "FailedMigration"
                && e["message"] == "Migration target pod was removed during active migration."),
        "a FailedMigration event on the migration"
    );
}

/// lifecycle.go `updateStatus` with migration.go `updateStatus` ("Migration failed vmi shutdown
/// during migration."): the source pod gone mid-migration fails the VMI, and the migration with
/// it; vm.go `syncRunStrategy` replaces the VMI.
#[tokio::test]
async fn a_migration_whose_source_pod_goes_fails_with_its_vmi_which_is_replaced() {
    let (_sim, client) = cluster().await;
    slow_migration_policy(&client).await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let (uid, since) = uid_and_version(&vmi);
    let source = launcher_pods(&client, &uid, "").await;
    let m = running_migration(&client, "vm1").await;
    let name = m["metadata"]["name"].as_str().unwrap();
    delete_pod(&client, &source[0]).await;

    let (_, failed) = phases_of(&client, name).await;
    assert_eq!(failed["status"]["phase"], "Failed");
    let (old, new) = replaced(&client, "vm1", &uid, &since).await;
    assert!(
        old.iter().any(|v| v["status"]["phase"] == "Failed"),
        "the VMI failed: {old:?}"
    );
    assert_ne!(new["metadata"]["uid"], uid.as_str());
}

//! The migration controller: MigrationPolicy matching and the configuration it resolves, what
//! the VMIM and the VMI carry as a migration runs and ends, and the back-off after failures.

use futures::TryStreamExt;
use kube::api::{PostParams, WatchEvent, WatchParams};

use super::*;

async fn policy(client: &kube::Client, name: &str, spec: Value) {
    let p: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "migrations.kubevirt.io/v1alpha1", "kind": "MigrationPolicy",
        "metadata": {"name": name}, "spec": spec}),
    )
    .unwrap();
    api(client, "MigrationPolicy", "migrationpolicies")
        .create(&PostParams::default(), &p)
        .await
        .unwrap();
}

/// The VMI's migrationState once migration `vmim` ended.
async fn ended_state(client: &kube::Client, vmim: &Value) -> Value {
    let uid = vmim["metadata"]["uid"].clone();
    let vmi = until(&vmis(client), "vm1", "the migration recorded", |v| {
        v["status"]["migrationState"]["migrationUid"] == uid
            && v["status"]["migrationState"]["completed"] == true
    })
    .await;
    vmi["status"]["migrationState"].clone()
}

/// kubevirt v1.9.0 pkg/virt-controller/watch/migration/migrationpolicy.go `countMatchingLabels`:
/// a policy without `selectors` matches nothing, while empty selectors match every VMI;
/// `applyMigrationPolicySpec` takes `maxDowntimeMs` from the policy into the resolved
/// configuration, which otherwise carries the cluster's (pkg/virt-config
/// `DefaultMigrationMaxDowntimeMs`, 900).
#[tokio::test]
async fn a_policy_without_selectors_matches_nothing_and_max_downtime_is_resolved() {
    let (_sim, client) = cluster().await;
    policy(&client, "no-selectors", json!({"maxDowntimeMs": 100})).await;
    boot(&client, "vm1", json!({})).await;
    let (_, first) = migrate(&client, "vm1").await;
    let state = ended_state(&client, &first).await;
    assert!(state["migrationPolicyName"].is_null(), "{state}");
    assert_eq!(state["migrationConfiguration"]["maxDowntimeMs"], 900);

    policy(
        &client,
        "everything",
        json!({"selectors": {}, "maxDowntimeMs": 2000}),
    )
    .await;
    let (_, second) = migrate(&client, "vm1").await;
    let state = ended_state(&client, &second).await;
    assert_eq!(state["migrationPolicyName"], "everything");
    assert_eq!(state["migrationConfiguration"]["maxDowntimeMs"], 2000);
}

/// migration.go `updateStatus`: the VMIM gets the VMI's migrationState only once it is final;
/// pkg/virt-handler/migration-target.go `finalizeMigration` drops the VMI's
/// `kubevirt.io/migrationTargetNodeName` label after a success too.
#[tokio::test]
async fn the_vmim_copies_the_migration_state_when_final_and_the_target_label_goes() {
    let (_sim, client) = cluster().await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let since = vmi["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let created = value(
        &vmims(&client)
            .create(&PostParams::default(), &migration("vm1"))
            .await
            .unwrap(),
    );
    let name = created["metadata"]["name"].as_str().unwrap().to_string();
    let mut versions = Vec::new();
    let params = WatchParams::default().fields(&format!("metadata.name={name}"));
    let follow = async {
        let mut stream = std::pin::pin!(vmims(&client).watch(&params, "0").await.unwrap());
        while let Some(event) = stream.try_next().await.unwrap() {
            if let WatchEvent::Added(o) | WatchEvent::Modified(o) = event {
                let v = value(&o);
                let done = v["status"]["phase"] == "Succeeded";
                versions.push(v);
                if done {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(BUDGET, follow)
        .await
        .expect("the migration succeeded");
    let (last, before) = versions.split_last().unwrap();
    assert!(
        before
            .iter()
            .all(|v| v["status"]["migrationState"].is_null()),
        "no migrationState before the end: {before:?}"
    );
    assert_eq!(
        last["status"]["migrationState"]["completed"], true,
        "{last}"
    );
    let labelled = history_since(&client, &since, |v| {
        v["status"]["migrationState"]["completed"] == true
    })
    .await;
    assert!(
        labelled
            .iter()
            .any(|v| v["metadata"]["labels"]["kubevirt.io/migrationTargetNodeName"].is_string()),
        "the VMI was labelled with the target node during the migration"
    );
    let done = labelled.last().unwrap();
    assert!(
        done["metadata"]["labels"]["kubevirt.io/migrationTargetNodeName"].is_null(),
        "the label goes with the success: {}",
        done["metadata"]["labels"]
    );
}

/// Versions of VMI vm1 from resourceVersion `since` until `done` holds.
async fn history_since(
    client: &kube::Client,
    since: &str,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let params = WatchParams::default().fields("metadata.name=vm1");
    let mut seen = Vec::new();
    let follow = async {
        let mut stream = std::pin::pin!(vmis(client).watch(&params, since).await.unwrap());
        while let Some(event) = stream.try_next().await.unwrap() {
            if let WatchEvent::Added(o) | WatchEvent::Modified(o) = event {
                let v = value(&o);
                let end = done(&v);
                seen.push(v);
                if end {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(BUDGET, follow)
        .await
        .expect("the VMI got there");
    seen
}

fn evacuation(vmi: &str) -> DynamicObject {
    serde_json::from_value(
        json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"generateName": "kubevirt-evacuation-", "namespace": "default",
                     "annotations": {"kubevirt.io/evacuationMigration": "worker-0"}},
        "spec": {"vmiName": vmi}}),
    )
    .unwrap()
}

/// migration.go `handleMigrationBackoff`: after an evacuation or workload-update migration of
/// a VMI failed, the next such migration stays Pending for 20 s (doubled for each earlier
/// failure) and the VMI gets a Warning event `MigrationBackoff` "backoff migrating vmi
/// default/vm1" (`sync`); a migration a user asked for is not held back.
#[tokio::test]
async fn an_evacuation_after_a_failed_one_backs_off_and_a_user_migration_does_not() {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    let force = json!({"metadata": {"annotations": {"kubevirt.io/func-test-force-launcher-migration-failure": "true"}}});
    vmis(&client)
        .patch("vm1", &PatchParams::default(), &Patch::Merge(force))
        .await
        .unwrap();
    let first = value(
        &vmims(&client)
            .create(&PostParams::default(), &evacuation("vm1"))
            .await
            .unwrap(),
    );
    let (_, ended) = phases_of(&client, first["metadata"]["name"].as_str().unwrap()).await;
    assert_eq!(ended["status"]["phase"], "Failed");

    let second = value(
        &vmims(&client)
            .create(&PostParams::default(), &evacuation("vm1"))
            .await
            .unwrap(),
    );
    let event = common::net::until_listed(
        &api(&client, "Event", "events"),
        "a MigrationBackoff event",
        |e| e["reason"] == "MigrationBackoff",
    )
    .await;
    assert_eq!(
        (
            &event["type"],
            &event["message"],
            &event["involvedObject"]["name"]
        ),
        (
            &json!("Warning"),
            &json!("backoff migrating vmi default/vm1"),
            &json!("vm1")
        )
    );
    let (phases, _) = phases_of(&client, second["metadata"]["name"].as_str().unwrap()).await;
    assert!(
        phases.contains(&"Scheduling".to_string()),
        "it ran once the back-off was over: {phases:?}"
    );

    let backoffs = || async {
        let events = api(&client, "Event", "events")
            .list(&Default::default())
            .await
            .unwrap();
        let counts = events
            .items
            .iter()
            .map(value)
            .filter(|e| e["reason"] == "MigrationBackoff");
        counts
            .map(|e| e["count"].as_u64().unwrap_or(1))
            .sum::<u64>()
    };
    let before = backoffs().await;
    let user = value(
        &vmims(&client)
            .create(&PostParams::default(), &migration("vm1"))
            .await
            .unwrap(),
    );
    let (phases, _) = phases_of(&client, user["metadata"]["name"].as_str().unwrap()).await;
    assert!(phases.contains(&"Scheduling".to_string()), "{phases:?}");
    assert_eq!(
        backoffs().await,
        before,
        "the user's migration was not held back"
    );
}

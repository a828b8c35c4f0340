//! Migrations: phases, admission, and what policy, bandwidth and the guest decide.

use super::*;

#[tokio::test]
async fn a_migration_runs_every_phase_and_keeps_the_guest() {
    let (_sim, client) = cluster().await;
    let before = boot(&client, "vm1", json!({})).await;
    let (boot_id, _) = ssh(&client, "vm1", KEY_FILE, BOOT_ID).await.unwrap();
    let (pid, _) = ssh(&client, "vm1", KEY_FILE, "sleep 10000 & echo $!")
        .await
        .unwrap();
    let m = vmims(&client)
        .create(&PostParams::default(), &migration("vm1"))
        .await
        .unwrap();
    let m = value(&m);
    assert_eq!(m["metadata"]["labels"]["kubevirt.io/vmi-name"], "vm1");
    assert_eq!(
        m["metadata"]["finalizers"],
        json!(["kubevirt.io/migrationJobFinalize"])
    );
    let name = m["metadata"]["name"].as_str().unwrap();
    let (phases, last) = phases_of(&client, name).await;
    assert_eq!(
        phases,
        [
            "Pending",
            "Scheduling",
            "Scheduled",
            "PreparingTarget",
            "TargetReady",
            "Running",
            "Succeeded"
        ]
    );
    let vmi = value(&vmis(&client).get("vm1").await.unwrap());
    let s = &vmi["status"]["migrationState"];
    assert_eq!(s["migrationUid"], m["metadata"]["uid"]);
    assert_eq!(s["completed"], true);
    assert!(s["failed"].is_null(), "failed is omitempty: {s}");
    assert_eq!(s["mode"], "PreCopy");
    assert_eq!(s["sourceNode"], before["status"]["nodeName"]);
    assert_eq!(s["targetNode"], vmi["status"]["nodeName"]);
    assert_ne!(s["targetNode"], s["sourceNode"]);
    for field in [
        "startTimestamp",
        "endTimestamp",
        "targetNodeDomainReadyTimestamp",
        "targetNodeAddress",
        "sourcePod",
        "targetPod",
    ] {
        assert!(!s[field].is_null(), "migrationState.{field} is set");
    }
    assert!(s["migrationPolicyName"].is_null(), "no policy matched");
    assert_eq!(
        s["migrationConfiguration"]["allowWorkloadDisruption"],
        false
    );
    assert_eq!(
        last["status"]["migrationState"]["migrationUid"],
        m["metadata"]["uid"]
    );
    assert_eq!(vmi["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        vmi["status"]["interfaces"][0]["mac"],
        before["status"]["interfaces"][0]["mac"]
    );
    let source = value(
        &pods(&client)
            .get(s["sourcePod"].as_str().unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(source["status"]["phase"], "Succeeded");
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, BOOT_ID).await.unwrap().0,
        boot_id
    );
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, &format!("kill -0 {}", pid.trim()))
            .await
            .unwrap()
            .1,
        0
    );
    // The finalizer goes once the migration is final.
    let gone = until(&vmims(&client), name, "without finalizer", |v| {
        v["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty())
    })
    .await;
    assert_eq!(gone["status"]["phase"], "Succeeded");
}

#[tokio::test]
async fn migration_admission_rejects_with_the_upstream_messages() {
    let (_sim, client) = cluster().await;
    let err = api_error(
        vmims(&client)
            .create(&PostParams::default(), &migration("ghost"))
            .await
            .unwrap_err(),
    );
    assert!(
        err.message
            .contains("the VMI \"default/ghost\" does not exist"),
        "{}",
        err.message
    );
    boot(&client, "vm1", json!({})).await;
    let mut prioritised = migration("vm1");
    prioritised.data["spec"]["priority"] = json!("system-critical");
    let err = api_error(
        vmims(&client)
            .create(&PostParams::default(), &prioritised)
            .await
            .unwrap_err(),
    );
    assert!(
        err.message
            .contains("only virt-controller is allowed to set priority field"),
        "{}",
        err.message
    );
    let first = value(
        &vmims(&client)
            .create(&PostParams::default(), &migration("vm1"))
            .await
            .unwrap(),
    );
    let err = api_error(
        vmims(&client)
            .create(&PostParams::default(), &migration("vm1"))
            .await
            .unwrap_err(),
    );
    assert!(
        err.message.contains(&format!(
            "in-flight migration detected. Active migration job ({})",
            first["metadata"]["uid"].as_str().unwrap()
        )),
        "{}",
        err.message
    );
    // A pod-network bridge is not migratable.
    let bridged =
        json!({"domain": {"devices": {"interfaces": [{"name": "default", "bridge": {}}]}}});
    boot(&client, "vm2", bridged).await;
    let err = api_error(
        vmims(&client)
            .create(&PostParams::default(), &migration("vm2"))
            .await
            .unwrap_err(),
    );
    assert!(
        err.message
            .contains("Cannot migrate VMI, Reason: InterfaceNotLiveMigratable"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_dirtying_guest_under_a_slow_policy_with_awd_is_paused_to_finish() {
    let (client, last, vmi, _sim) =
        stressed_migration(json!({"allowWorkloadDisruption": true})).await;
    assert_eq!(last["status"]["phase"], "Succeeded");
    let s = &vmi["status"]["migrationState"];
    assert_eq!(s["mode"], "Paused");
    assert_eq!(s["migrationPolicyName"], "slow");
    assert_eq!(s["migrationConfiguration"]["bandwidthPerMigration"], "5Mi");
    assert_eq!(
        cond(&vmi, "Paused"),
        None,
        "Paused is gone after the migration"
    );
    drop(client);
}

#[tokio::test]
async fn post_copy_when_the_policy_allows_it() {
    let (_c, last, vmi, _sim) = stressed_migration(json!({"allowPostCopy": true})).await;
    assert_eq!(last["status"]["phase"], "Succeeded");
    assert_eq!(vmi["status"]["migrationState"]["mode"], "PostCopy");
    assert_eq!(
        vmi["status"]["migrationState"]["migrationConfiguration"]["allowWorkloadDisruption"],
        true
    );
}

#[tokio::test]
async fn without_awd_a_non_converging_migration_aborts() {
    let (_c, last, vmi, _sim) = stressed_migration(json!({})).await;
    assert_eq!(last["status"]["phase"], "Failed");
    let s = &vmi["status"]["migrationState"];
    assert_eq!(
        (s["completed"].clone(), s["failed"].clone()),
        (json!(true), json!(true))
    );
    assert!(
        s["failureReason"]
            .as_str()
            .unwrap()
            .contains("not completed after 20 sec"),
        "{}",
        s["failureReason"]
    );
    assert_eq!(vmi["status"]["nodeName"], s["sourceNode"]);
}

#[tokio::test]
async fn a_guest_rewriting_zeros_converges_in_precopy_as_qemu_sends_zero_pages_as_flags() {
    let awd = json!({"allowWorkloadDisruption": true});
    let (_c, last, vmi, _sim) = migration_dirtied_from("/dev/zero", awd).await;
    assert_eq!(last["status"]["phase"], "Succeeded");
    assert_eq!(vmi["status"]["migrationState"]["mode"], "PreCopy");
}

#[tokio::test]
async fn an_idle_guest_converges_in_precopy_even_under_the_slow_policy() {
    let (_sim, client) = cluster().await;
    policy(&client, json!({"selectors": {"virtualMachineInstanceSelector": {"app": "vm1"}}, "bandwidthPerMigration": "64Mi", "completionTimeoutPerGiB": 20, "allowWorkloadDisruption": true})).await;
    boot(&client, "vm1", json!({})).await;
    let (_, last) = migrate(&client, "vm1").await;
    assert_eq!(last["status"]["phase"], "Succeeded");
    assert_eq!(last["status"]["migrationState"]["mode"], "PreCopy");
}

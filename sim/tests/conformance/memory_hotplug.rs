//! Guest memory hotplug of a running, migratable VM.

use super::*;

/// kubevirt/kubevirt v1.9.0: pkg/virt-handler/migration-target.go `finalizeMigration` →
/// `hotplugMemory` sets `status.memory.guestRequested` to the spec's guest memory and removes
/// HotMemoryChange as the migration completes; pkg/virt-handler/vm.go `updateMemoryInfo` takes
/// `guestCurrent` from the domain's currentMemory, which reaches the new size only as the guest
/// onlines it, later (upstream's tests/hotplug/memory.go waits up to 240 s for it).
#[tokio::test]
async fn memory_hotplug_requests_the_size_as_the_migration_completes_and_the_guest_reaches_it_later(
) {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    let before = free_total(&ssh(&client, "vm1", KEY_FILE, "free -b").await.unwrap().0);

    let patch = json!({"spec": {"template": {"spec": {"domain": {"memory": {"guest": "2Gi"}}}}}});
    vm_api(&client)
        .patch("vm1", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let history = history_until(&vmis(&client), "vm1", "guestCurrent 2Gi", |v| {
        v["status"]["memory"]["guestCurrent"] == "2Gi"
    })
    .await;
    let memory = |v: &Value, field: &str| v["status"]["memory"][field].as_str().map(String::from);
    let requested = history
        .iter()
        .position(|v| memory(v, "guestRequested").as_deref() == Some("2Gi"))
        .expect("guestRequested reaches 2Gi");
    assert!(
        history[..requested]
            .iter()
            .any(|v| cond(v, "HotMemoryChange").as_deref() == Some("True")),
        "HotMemoryChange before the migration"
    );
    let finalized = &history[requested];
    assert_eq!(
        (
            finalized["status"]["migrationState"]["completed"].as_bool(),
            cond(finalized, "HotMemoryChange"),
            memory(finalized, "guestCurrent").as_deref(),
        ),
        (Some(true), None, Some("1Gi")),
        "guestRequested is set as the migration completes, guestCurrent not yet: {}",
        finalized["status"]
    );
    assert!(history[..requested]
        .iter()
        .all(|v| memory(v, "guestCurrent").as_deref() == Some("1Gi")));
    assert!(
        history.len() > requested + 1,
        "guestCurrent grows in a later version than guestRequested"
    );
    let after = free_total(&ssh(&client, "vm1", KEY_FILE, "free -b").await.unwrap().0);
    assert!(
        after > before + (900 << 20),
        "free -b grew by about 1 GiB: {before} -> {after}"
    );
}

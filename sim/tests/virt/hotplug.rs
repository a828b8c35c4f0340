//! CPU and memory hotplug under the LiveUpdate rollout strategy.

use super::*;

#[tokio::test]
async fn cpu_hotplug_migrates_and_the_guest_sees_the_new_vcpus() {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    let patch = json!([{"op": "test", "path": "/spec/template/spec/domain/cpu/sockets", "value": 1},
                       {"op": "replace", "path": "/spec/template/spec/domain/cpu/sockets", "value": 2}]);
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    api(&client, "VirtualMachine", "virtualmachines")
        .patch("vm1", &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap();
    until(&vmis(&client), "vm1", "HotVCPUChange", |v| {
        cond(v, "HotVCPUChange").as_deref() == Some("True")
    })
    .await;
    let done = until(&vmis(&client), "vm1", "migrated", |v| {
        v["status"]["migrationState"]["completed"] == true
    })
    .await;
    assert_eq!(done["status"]["currentCPUTopology"]["sockets"], 2);
    assert_eq!(cond(&done, "HotVCPUChange"), None);
    let m = the_workload_update(&client).await;
    assert_eq!(m["spec"]["priority"], "user-triggered");
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, "nproc").await.unwrap().0,
        "4\n"
    );
    let vm = value(
        &api(&client, "VirtualMachine", "virtualmachines")
            .get("vm1")
            .await
            .unwrap(),
    );
    assert_eq!(cond(&vm, "RestartRequired"), None);
    // Cores are not live-updatable.
    let patch = json!({"spec": {"template": {"spec": {"domain": {"cpu": {"cores": 4}}}}}});
    api(&client, "VirtualMachine", "virtualmachines")
        .patch("vm1", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let vm = until(
        &api(&client, "VirtualMachine", "virtualmachines"),
        "vm1",
        "RestartRequired",
        |v| cond(v, "RestartRequired").is_some(),
    )
    .await;
    let c = vm["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "RestartRequired")
        .unwrap();
    assert_eq!(
        c["message"],
        "a non-live-updatable field was changed in the template spec"
    );
}

/// The workload updater respects parallelMigrationsPerCluster: a hotplug that meets a full
/// cluster waits, and gets its migration when a slot frees (upstream re-syncs the updater on
/// every migration change; a simulator that forgot the waiting VMI hung the hotplug forever).
#[tokio::test]
async fn a_hotplug_waiting_for_a_migration_slot_migrates_when_one_frees() {
    let (_sim, client) = cluster().await;
    configure_kubevirt(
        &client,
        json!({"migrations": {"parallelMigrationsPerCluster": 1}}),
    )
    .await;
    boot(&client, "vm1", json!({})).await;
    boot(&client, "vm2", json!({})).await;
    // vm1's migration holds the only slot: its target pod fits no node.
    let mut stuck = migration("vm1");
    stuck.data["spec"]["addedNodeSelector"] = json!({"vstp.test/no-such-node": "true"});
    let stuck = value(
        &vmims(&client)
            .create(&PostParams::default(), &stuck)
            .await
            .unwrap(),
    );
    let stuck = stuck["metadata"]["name"].as_str().unwrap().to_string();
    until(&vmims(&client), &stuck, "Scheduling", |m| {
        m["status"]["phase"] == "Scheduling"
    })
    .await;
    patch_vm_named(
        &client,
        "vm2",
        json!({"spec": {"template": {"spec": {"domain": {"cpu": {"sockets": 2}}}}}}),
    )
    .await;
    until(&vmis(&client), "vm2", "HotVCPUChange", |v| {
        cond(v, "HotVCPUChange").as_deref() == Some("True")
    })
    .await;
    let names: Vec<String> = vmims(&client)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|m| m.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        std::slice::from_ref(&stuck),
        "no second migration while the slot is taken"
    );
    vmims(&client)
        .delete(&stuck, &Default::default())
        .await
        .unwrap();
    let done = until(&vmis(&client), "vm2", "migrated", |v| {
        v["status"]["migrationState"]["completed"] == true
    })
    .await;
    assert_eq!(done["status"]["currentCPUTopology"]["sockets"], 2);
}

/// The one migration the workload updater created for a hotplug.
async fn the_workload_update(client: &kube::Client) -> Value {
    let all = vmims(client).list(&Default::default()).await.unwrap().items;
    assert_eq!(all.len(), 1, "one migration: {all:?}");
    let m = value(&all[0]);
    let name = m["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("kubevirt-workload-update-"), "{name}");
    m
}

async fn patch_vm(client: &kube::Client, patch: Value) {
    patch_vm_named(client, "vm1", patch).await
}

async fn patch_vm_named(client: &kube::Client, name: &str, patch: Value) {
    api(client, "VirtualMachine", "virtualmachines")
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
}

fn restart_message(vm: &Value) -> Option<&str> {
    let conditions = vm["status"]["conditions"].as_array()?;
    let c = conditions.iter().find(|c| c["type"] == "RestartRequired")?;
    c["message"].as_str()
}

async fn until_restart_required(client: &kube::Client, message: &str) {
    until(
        &api(client, "VirtualMachine", "virtualmachines"),
        "vm1",
        message,
        |v| restart_message(v) == Some(message),
    )
    .await;
}

#[tokio::test]
async fn memory_hotplug_migrates_and_the_guest_sees_more_memory() {
    let (_sim, client) = cluster().await;
    let booted = boot(&client, "vm1", json!({})).await;
    assert_eq!(
        booted["spec"]["domain"]["memory"]["maxGuest"], "4Gi",
        "maxGuest defaults to guest × 4"
    );
    let before = free_total(&ssh(&client, "vm1", KEY_FILE, "free -b").await.unwrap().0);

    patch_vm(
        &client,
        json!({"spec": {"template": {"spec": {"domain": {"memory": {"guest": "2Gi"}}}}}}),
    )
    .await;
    let hot = until(&vmis(&client), "vm1", "HotMemoryChange", |v| {
        cond(v, "HotMemoryChange").as_deref() == Some("True")
    })
    .await;
    assert_eq!(hot["spec"]["domain"]["memory"]["guest"], "2Gi");
    // guestCurrent reaches the new size once the guest onlined it (tests/conformance).
    let done = until(&vmis(&client), "vm1", "memory synced", |v| {
        v["status"]["migrationState"]["completed"] == true
            && v["status"]["memory"]["guestCurrent"] == "2Gi"
    })
    .await;
    assert_eq!(cond(&done, "HotMemoryChange"), None);
    let memory = &done["status"]["memory"];
    assert_eq!(
        (
            memory["guestAtBoot"].as_str(),
            memory["guestRequested"].as_str(),
            memory["guestCurrent"].as_str()
        ),
        (Some("1Gi"), Some("2Gi"), Some("2Gi"))
    );
    the_workload_update(&client).await;
    let after = free_total(&ssh(&client, "vm1", KEY_FILE, "free -b").await.unwrap().0);
    assert!(
        after > before + (900 << 20),
        "free -b grew by about 1 GiB: {before} -> {after}"
    );
    let pod = pods(&client)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| value(&p))
        .find(|p| p["status"]["phase"] == "Running")
        .unwrap();
    let request = pod["spec"]["containers"][0]["resources"]["requests"]["memory"].clone();
    assert!(
        vstp_sim::quantity::of(&request).unwrap() >= (2u64 << 30) as f64,
        "the target pod requests the new memory: {request}"
    );

    // Below what it booted with, or above maxGuest: a restart is required, nothing is hotplugged.
    patch_vm(
        &client,
        json!({"spec": {"template": {"spec": {"domain": {"memory": {"guest": "512Mi"}}}}}}),
    )
    .await;
    until_restart_required(
        &client,
        "memory updated in template spec to a value lower than what the VM started with",
    )
    .await;
    patch_vm(
        &client,
        json!({"spec": {"template": {"spec": {"domain": {"memory": {"guest": "8Gi"}}}}}}),
    )
    .await;
    until_restart_required(
        &client,
        "memory updated in template spec to a value higher than what's available",
    )
    .await;
    let vmi = value(&vmis(&client).get("vm1").await.unwrap());
    assert_eq!(vmi["spec"]["domain"]["memory"]["guest"], "2Gi");
}

/// The KubeVirt CR is read at every decision: with the Stage rollout strategy a socket change
/// is not hotplugged but waits for a restart.
#[tokio::test]
async fn without_the_live_update_rollout_a_cpu_change_requires_a_restart() {
    let (_sim, client) = cluster().await;
    configure_kubevirt(&client, json!({"vmRolloutStrategy": "Stage"})).await;
    boot(&client, "vm1", json!({})).await;
    patch_vm(
        &client,
        json!({"spec": {"template": {"spec": {"domain": {"cpu": {"sockets": 2}}}}}}),
    )
    .await;
    until_restart_required(
        &client,
        "a non-live-updatable field was changed in the template spec",
    )
    .await;
    let vmi = value(&vmis(&client).get("vm1").await.unwrap());
    assert_eq!(vmi["spec"]["domain"]["cpu"]["sockets"], 1);
    assert_eq!(cond(&vmi, "HotVCPUChange"), None);
}

/// The memory-never-onlined regression: the migration requests the new size, but neither
/// guestCurrent nor the guest ever reach it.
#[tokio::test]
async fn under_memory_never_onlined_the_guest_keeps_its_memory_after_the_hotplug() {
    let (_sim, client) = cluster_with_faults("memory-never-onlined").await;
    boot(&client, "vm1", json!({})).await;
    let before = free_total(&ssh(&client, "vm1", KEY_FILE, "free -b").await.unwrap().0);
    patch_vm(
        &client,
        json!({"spec": {"template": {"spec": {"domain": {"memory": {"guest": "2Gi"}}}}}}),
    )
    .await;
    until(&vmis(&client), "vm1", "guestRequested 2Gi", |v| {
        v["status"]["memory"]["guestRequested"] == "2Gi"
    })
    .await;
    holds(&vmis(&client), "vm1", 60.0, "at 1Gi", |v| {
        v["status"]["memory"]["guestCurrent"] == "1Gi"
    })
    .await;
    let after = free_total(&ssh(&client, "vm1", KEY_FILE, "free -b").await.unwrap().0);
    assert_eq!(after, before);
}

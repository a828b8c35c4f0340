//! A VM's life: start, restart, stop and their printableStatus; the `migrate` subresource;
//! aborting a migration by deleting it; parallelism limits; scheduling and cordon.

use std::sync::{Arc, Mutex};

use super::*;

/// Records every distinct consecutive value of `field` (a JSON pointer) of object `name`, from
/// the moment this returns until the returned task is awaited after `last` was seen.
async fn record(
    api: Api<DynamicObject>,
    name: &str,
    field: &'static str,
    last: &'static str,
) -> tokio::task::JoinHandle<Vec<String>> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let task = tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut stream = std::pin::pin!(watcher::watcher(api, cfg));
        let follow = async {
            while let Some(ev) = stream.try_next().await.unwrap() {
                match ev {
                    watcher::Event::InitDone => {
                        ready.take().map(|r| r.send(()));
                    }
                    watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                        let v = value(&o)
                            .pointer(field)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        let mut seen = seen.lock().unwrap();
                        if seen.last() != Some(&v) {
                            seen.push(v.clone());
                        }
                        if v == last && ready.is_none() {
                            return;
                        }
                    }
                    _ => {}
                }
            }
        };
        let finished = tokio::time::timeout(BUDGET, follow).await;
        let seen = seen.lock().unwrap().clone();
        assert!(
            finished.is_ok(),
            "{field} never became {last}; saw {seen:?}"
        );
        seen
    });
    ready_rx.await.expect("the recorder started watching");
    task
}

async fn put(client: &kube::Client, path: &str) -> u16 {
    let req = http::Request::put(format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/default/{path}"
    ))
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(kube::client::Body::from(b"{}".to_vec()))
    .unwrap();
    client.send(req).await.unwrap().status().as_u16()
}

fn vms(client: &kube::Client) -> Api<DynamicObject> {
    api(client, "VirtualMachine", "virtualmachines")
}

#[tokio::test]
async fn start_restart_and_stop_go_through_their_printable_statuses() {
    let (_sim, client) = cluster().await;
    let mut vm = value(&rhel_vm("vm1", json!({})));
    vm["spec"]["runStrategy"] = json!("Halted");
    vms(&client)
        .create(&PostParams::default(), &serde_json::from_value(vm).unwrap())
        .await
        .unwrap();
    let statuses = record(vms(&client), "vm1", "/status/printableStatus", "Running").await;
    assert_eq!(put(&client, "virtualmachines/vm1/start").await, 202);
    assert_eq!(statuses.await.unwrap(), ["Stopped", "Starting", "Running"]);
    until(&vmis(&client), "vm1", "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await;
    logged_in(&client, "default", "vm1", "cloud-user").await;
    let (boot_id, _) = ssh(&client, "vm1", KEY_FILE, BOOT_ID).await.unwrap();
    let (pid, _) = ssh(&client, "vm1", KEY_FILE, "sleep 10000 & echo $!")
        .await
        .unwrap();
    let old_uid = value(&vmis(&client).get("vm1").await.unwrap())["metadata"]["uid"].clone();

    assert_eq!(put(&client, "virtualmachines/vm1/restart").await, 202);
    until(&vmis(&client), "vm1", "a new VMI with its agent", |v| {
        v["metadata"]["uid"] != old_uid && cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await;
    logged_in(&client, "default", "vm1", "cloud-user").await;
    let (new_boot_id, _) = ssh(&client, "vm1", KEY_FILE, BOOT_ID).await.unwrap();
    assert_ne!(new_boot_id, boot_id, "a restart boots the guest again");
    let (_, alive) = ssh(&client, "vm1", KEY_FILE, &format!("kill -0 {}", pid.trim()))
        .await
        .unwrap();
    assert_eq!(alive, 1, "processes do not survive a restart");

    let statuses = record(vms(&client), "vm1", "/status/printableStatus", "Stopped").await;
    assert_eq!(put(&client, "virtualmachines/vm1/stop").await, 202);
    assert_eq!(statuses.await.unwrap(), ["Running", "Stopping", "Stopped"]);
    assert_eq!(
        put(&client, "virtualmachines/vm1/migrate").await,
        409,
        "a stopped VM cannot migrate"
    );
}

#[tokio::test]
async fn the_migrate_subresource_creates_a_migration_and_the_vm_shows_migrating() {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    let statuses = record(vms(&client), "vm1", "/status/printableStatus", "Running").await;
    assert_eq!(put(&client, "virtualmachines/vm1/migrate").await, 202);
    let m = vmims(&client)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let name = m[0].metadata.name.clone().unwrap();
    assert!(name.starts_with("kubevirt-migrate-vm-"), "{name}");
    let (_, last) = phases_of(&client, &name).await;
    assert_eq!(last["status"]["phase"], "Succeeded");
    assert_eq!(statuses.await.unwrap(), ["Running", "Migrating", "Running"]);
}

#[tokio::test]
async fn deleting_a_running_migration_aborts_it_and_the_vmi_stays_on_its_node() {
    let (_sim, client) = cluster().await;
    // Slow enough that the migration is still running when it is deleted.
    policy(&client, json!({"selectors": {"virtualMachineInstanceSelector": {"app": "vm1"}}, "bandwidthPerMigration": "1Mi", "completionTimeoutPerGiB": 800})).await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let (boot_id, _) = ssh(&client, "vm1", KEY_FILE, BOOT_ID).await.unwrap();
    let m = running_migration(&client, "vm1").await;
    let name = m["metadata"]["name"].as_str().unwrap().to_string();
    vmims(&client)
        .delete(&name, &Default::default())
        .await
        .unwrap();
    let aborted = until(&vmis(&client), "vm1", "abort done", |v| {
        v["status"]["migrationState"]["abortStatus"] == "Succeeded"
    })
    .await;
    let state = &aborted["status"]["migrationState"];
    assert_eq!(
        (state["failed"].as_bool(), state["completed"].as_bool()),
        (Some(true), Some(true)),
        "{state}"
    );
    assert_eq!(state["abortRequested"], true);
    assert_eq!(aborted["status"]["nodeName"], vmi["status"]["nodeName"]);
    let gone = kube::runtime::wait::await_condition(
        vmims(&client),
        &name,
        kube::runtime::wait::conditions::is_deleted(m["metadata"]["uid"].as_str().unwrap()),
    );
    tokio::time::timeout(BUDGET, gone)
        .await
        .expect("the VMIM's finalizer is released")
        .unwrap();
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, BOOT_ID).await.unwrap().0,
        boot_id
    );
}

#[tokio::test]
async fn no_more_migrations_run_at_once_than_the_cluster_allows() {
    let (_sim, client) = cluster().await;
    configure_kubevirt(
        &client,
        json!({"migrations": {"parallelMigrationsPerCluster": 1}}),
    )
    .await;
    for vm in ["vm1", "vm2", "vm3"] {
        boot(&client, vm, json!({})).await;
    }
    let cfg = watcher::Config::default();
    let mut stream = std::pin::pin!(watcher::watcher(vmims(&client), cfg));
    for vm in ["vm1", "vm2", "vm3"] {
        vmims(&client)
            .create(&PostParams::default(), &migration(vm))
            .await
            .unwrap();
    }
    let mut phases = std::collections::BTreeMap::new();
    let mut most = 0;
    tokio::time::timeout(BUDGET, async {
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) = ev {
                let v = value(&o);
                phases.insert(
                    o.metadata.name.clone().unwrap(),
                    v["status"]["phase"].as_str().unwrap_or("").to_string(),
                );
                let active = phases
                    .values()
                    .filter(|p| !matches!(p.as_str(), "" | "Pending" | "Succeeded" | "Failed"))
                    .count();
                most = most.max(active);
                if phases.len() == 3 && phases.values().all(|p| p == "Succeeded") {
                    return;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("all three migrations finish: {phases:?}"));
    assert_eq!(most, 1, "parallelMigrationsPerCluster 1 was honoured");
}

#[tokio::test]
async fn scheduling_honours_cordon_and_reports_what_does_not_fit() {
    let (_sim, client) = cluster().await;
    let nodes = api(&client, "Node", "nodes");
    for worker in ["worker-0", "worker-1"] {
        nodes
            .patch(
                worker,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"unschedulable": true}})),
            )
            .await
            .unwrap();
    }
    let vmi = boot(&client, "vm1", json!({})).await;
    assert_eq!(
        vmi["status"]["nodeName"], "worker-2",
        "the only schedulable worker"
    );

    let pinned = json!({"nodeSelector": {"vstp.io/no-such-label": "x"}});
    vms(&client)
        .create(&PostParams::default(), &rhel_vm("vm2", pinned))
        .await
        .unwrap();
    let (waiting, message) = unschedulable_message(&client, "vm2").await;
    assert_eq!(waiting["status"]["phase"], "Scheduling");
    assert!(message.starts_with("0/6 nodes are available:"), "{message}");
    assert!(
        message.contains("node(s) didn't match Pod's node affinity/selector"),
        "{message}"
    );
}

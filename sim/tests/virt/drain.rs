//! Eviction of a virt-launcher pod: 429 while an evacuation migrates the VMI.

use super::*;

type Pods = Api<k8s_openapi::api::core::v1::Pod>;

/// The pods API without kube's own 429 retries, and the one virt-launcher pod's name.
async fn launcher(sim: &SimHandle, client: &kube::Client) -> (Pods, String) {
    let launchers = kube::api::ListParams::default().labels("kubevirt.io=virt-launcher");
    let list = pods(client).list(&launchers).await.unwrap().items;
    assert_eq!(list.len(), 1, "one launcher pod");
    let core = Api::namespaced(client_without_retry(sim).await, "default");
    (core, list[0].metadata.name.clone().unwrap())
}

async fn refused_eviction(core: &Pods, pod: &str) -> kube::core::Status {
    let err = api_error(core.evict(pod, &Default::default()).await.unwrap_err());
    assert_eq!(err.code, 429, "{}", err.message);
    err
}

#[tokio::test]
async fn eviction_is_refused_with_429_while_an_evacuation_migrates_the_vmi() {
    let (sim, client) = cluster().await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let node = vmi["status"]["nodeName"].as_str().unwrap().to_string();
    let (core, pod_name) = launcher(&sim, &client).await;
    let err = refused_eviction(&core, &pod_name).await;
    assert_eq!(
        err.message,
        "admission webhook \"virt-launcher-eviction-interceptor.kubevirt.io\" denied the request: Eviction triggered evacuation of VMI \"default/vm1\""
    );
    let err = refused_eviction(&core, &pod_name).await;
    assert_eq!(
        err.message,
        "admission webhook \"virt-launcher-eviction-interceptor.kubevirt.io\" denied the request: Evacuation in progress: Eviction triggered evacuation of VMI \"default/vm1\""
    );
    let moved = until(&vmis(&client), "vm1", "moved", |v| {
        v["status"]["nodeName"].as_str().is_some_and(|n| n != node)
            && v["status"]["migrationState"]["completed"] == true
    })
    .await;
    assert!(moved["status"]["evacuationNodeName"].is_null());
    assert_eq!(cond(&moved, "EvictionRequested"), None);
    let list = vmims(&client).list(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 1, "exactly one evacuation migration");
    let m = value(&list.items[0]);
    assert!(m["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("kubevirt-evacuation-"));
    assert_eq!(
        m["metadata"]["annotations"]["kubevirt.io/evacuationMigration"],
        node.as_str()
    );
    assert_eq!(m["spec"]["priority"], "system-critical");
    core.evict(&pod_name, &Default::default())
        .await
        .expect("a completed source pod may go");
}

#[tokio::test]
async fn a_vm_on_a_non_shared_disk_is_not_migratable_and_its_eviction_is_refused() {
    let (sim, client) = cluster().await;
    let mut vm = value(&rhel_vm("vm1", json!({})));
    add_rwo_disk(&client, &mut vm, "rootdisk").await;
    api(&client, "VirtualMachine", "virtualmachines")
        .create(&PostParams::default(), &serde_json::from_value(vm).unwrap())
        .await
        .unwrap();
    let vmi = until(&vmis(&client), "vm1", "Ready", |v| {
        cond(v, "Ready").as_deref() == Some("True")
    })
    .await;
    let migratable = vmi["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "LiveMigratable")
        .unwrap()
        .clone();
    assert_eq!(
        (migratable["status"].as_str(), migratable["reason"].as_str()),
        (Some("False"), Some("DisksNotLiveMigratable")),
        "{migratable}"
    );

    let (core, pod_name) = launcher(&sim, &client).await;
    let err = refused_eviction(&core, &pod_name).await;
    assert_eq!(
        err.message,
        "admission webhook \"virt-launcher-eviction-interceptor.kubevirt.io\" denied the request: VMI vm1 is configured with an eviction strategy but is not live-migratable"
    );
    assert!(
        vmims(&client)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "no evacuation was started"
    );
}

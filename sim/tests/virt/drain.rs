//! Eviction of a virt-launcher pod: 429 while an evacuation migrates the VMI.

use super::*;

#[tokio::test]
async fn eviction_is_refused_with_429_while_an_evacuation_migrates_the_vmi() {
    let (sim, client) = cluster().await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let node = vmi["status"]["nodeName"].as_str().unwrap().to_string();
    let pod = pods(&client)
        .list(&kube::api::ListParams::default().labels("kubevirt.io=virt-launcher"))
        .await
        .unwrap()
        .items[0]
        .clone();
    let pod_name = pod.metadata.name.clone().unwrap();
    let strict = client_without_retry(&sim).await;
    let core: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(strict, "default");
    let err = api_error(
        core.evict(&pod_name, &Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 429);
    assert_eq!(
        err.message,
        "Eviction triggered evacuation of VMI \"default/vm1\""
    );
    let err = api_error(
        core.evict(&pod_name, &Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        "Evacuation in progress: Eviction triggered evacuation of VMI \"default/vm1\""
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

//! CDI DataSources: containerized-data-importer pkg/controller/datasource-controller.go
//! `DataSourceReconciler.update` (no source: Ready False, NoSource, "No source PVC set") and
//! `handlePvcSource` (an existing source PVC makes it Ready; a missing one is NotFound).

use super::*;

const IMAGES: &str = "openshift-virtualization-os-images";

fn data_sources(client: &kube::Client) -> Api<DynamicObject> {
    let ar = resource("cdi.kubevirt.io", "v1beta1", "DataSource", "datasources");
    Api::namespaced_with(client.clone(), IMAGES, &ar)
}

fn ready(ds: &Value) -> (Option<&str>, Option<&str>, Option<&str>) {
    condition(ds, "Ready").map_or((None, None, None), status_reason_message)
}

async fn create(client: &kube::Client, name: &str, source: Value) {
    let ds: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataSource",
        "metadata": {"name": name, "namespace": IMAGES}, "spec": {"source": source}}))
    .unwrap();
    data_sources(client)
        .create(&Default::default(), &ds)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_data_source_without_a_source_is_not_ready_with_no_source() {
    let (_sim, client) = cluster().await;
    let seeded = until(&data_sources(&client), "rhel9", "Ready", |d| {
        condition(d, "Ready").is_some()
    })
    .await;
    assert_eq!(
        ready(&seeded),
        (
            Some("True"),
            Some("Ready"),
            Some("DataSource is ready to be consumed")
        )
    );
    create(&client, "fedora", json!({})).await;
    let fedora = until(&data_sources(&client), "fedora", "a Ready condition", |d| {
        condition(d, "Ready").is_some()
    })
    .await;
    assert_eq!(
        ready(&fedora),
        (Some("False"), Some("NoSource"), Some("No source PVC set"))
    );
}

#[tokio::test]
async fn a_data_source_becomes_ready_when_its_pvc_appears() {
    let (_sim, client) = cluster().await;
    create(
        &client,
        "centos",
        json!({"pvc": {"name": "centos-disk", "namespace": IMAGES}}),
    )
    .await;
    let missing = until(&data_sources(&client), "centos", "a Ready condition", |d| {
        condition(d, "Ready").is_some()
    })
    .await;
    assert_eq!(
        ready(&missing),
        (Some("False"), Some("NotFound"), Some("PVC not found"))
    );
    let pvcs = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        IMAGES,
        &resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    );
    let pvc: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1",
        "kind": "PersistentVolumeClaim", "metadata": {"name": "centos-disk"},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "30Gi"}}}}))
    .unwrap();
    pvcs.create(&Default::default(), &pvc).await.unwrap();
    until(&data_sources(&client), "centos", "Ready", |d| {
        ready(d).0 == Some("True")
    })
    .await;
}

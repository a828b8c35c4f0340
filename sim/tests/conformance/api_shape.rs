//! The API's wire shapes: objects as Go encodes them, and Tables for server-side printing.

use http_body_util::BodyExt;
use kube::api::PostParams;

use super::*;

/// Every path of `v` holding a JSON null.
fn nulls(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Null => out.push(at.to_string()),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| nulls(v, &format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| nulls(v, &format!("{at}/{i}"), out)),
        _ => {}
    }
}

/// kubevirt v1.9.0 staging/src/kubevirt.io/api/core/v1/types.go
/// `VirtualMachineInstanceStatus`: every list is `omitempty`, so kube-apiserver's Go encoder
/// never sends `"conditions": null`; only `metav1.Time` fields (`lastProbeTime`,
/// k8s.io/apimachinery pkg/apis/meta/v1/time.go `Time.MarshalJSON`) encode a zero as null.
/// Every version of a booting VMI a watch delivers has that shape.
#[tokio::test]
async fn a_booting_vmi_is_sent_as_go_encodes_it() {
    let (_sim, client) = cluster().await;
    vm_api(&client)
        .create(&PostParams::default(), &rhel_vm("vm1", json!({})))
        .await
        .unwrap();
    let history = history_until(&vmis(&client), "vm1", "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await;
    for version in &history {
        let mut found = Vec::new();
        nulls(version, "", &mut found);
        found.retain(|p| !p.ends_with("/lastProbeTime") && !p.ends_with("/creationTimestamp"));
        assert!(found.is_empty(), "nulls at {found:?} in {version}");
        let conditions = &version["status"]["conditions"];
        assert!(conditions.is_null() || conditions.as_array().is_some_and(|c| !c.is_empty()));
    }
}

async fn get_as(client: &kube::Client, path: &str, accept: &str) -> (u16, Value) {
    let req = http::Request::builder()
        .uri(path)
        .header(http::header::ACCEPT, accept)
        .body(kube::client::Body::empty())
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

const V1BETA1_TABLE: &str = "application/json;as=Table;v=v1beta1;g=meta.k8s.io";

/// k8s.io/apiserver pkg/endpoints/handlers/response.go `transformResponseObject` answers a
/// Table in the meta.k8s.io version the client accepts, rows carrying the object as
/// `includeObject` asks (k8s.io/apimachinery meta/v1 `TableOptions`); a custom resource's
/// columns are its CRD's (kubevirt v1.9.0 crds.go `NewVirtualMachineInstanceCrd`, the Paused
/// and Live-Migratable columns at priority 1) after Name, evaluated by apiextensions-apiserver
/// tableconvertor.go `convertor.ConvertToTable`.
#[tokio::test]
async fn a_v1beta1_table_carries_the_crd_columns_and_whole_objects() {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    let path = "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances";
    let (code, table) = get_as(
        &client,
        &format!("{path}?includeObject=Object"),
        V1BETA1_TABLE,
    )
    .await;
    assert_eq!(
        (code, &table["apiVersion"], &table["kind"]),
        (200, &json!("meta.k8s.io/v1beta1"), &json!("Table"))
    );
    let columns: Vec<(&str, i64)> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["priority"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Name", 0),
            ("Age", 0),
            ("Phase", 0),
            ("IP", 0),
            ("NodeName", 0),
            ("Ready", 0),
            ("Live-Migratable", 1),
            ("Paused", 1)
        ]
    );
    let row = &table["rows"][0];
    assert_eq!(
        (&row["cells"][0], &row["cells"][2], &row["cells"][7]),
        (&json!("vm1"), &json!("Running"), &Value::Null)
    );
    assert_eq!(row["object"]["kind"], "VirtualMachineInstance");
    assert_eq!(row["object"]["status"]["phase"], "Running");

    let (code, status) = get_as(
        &client,
        &format!("{path}?includeObject=Everything"),
        V1BETA1_TABLE,
    )
    .await;
    assert_eq!(
        (code, &status["reason"]),
        (400, &json!("BadRequest")),
        "{status}"
    );
    let (code, plain) = get_as(&client, &format!("{path}/vm1"), "application/json").await;
    assert_eq!(
        (code, &plain["kind"]),
        (200, &json!("VirtualMachineInstance"))
    );
}

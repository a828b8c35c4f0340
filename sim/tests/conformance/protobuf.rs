//! Protobuf request bodies and content negotiation, as client-go's protobuf-preferring typed
//! clients (kubectl's generators) meet them.

use std::collections::BTreeMap;

use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_pb::api::core::v1 as pb;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb_meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use kube::api::Api;
use prost::Message;

use super::*;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// What client-go's protobuf serializer writes: `k8s\0`, then a runtime.Unknown.
fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        ..Default::default()
    };
    [b"k8s\0".to_vec(), unknown.encode_to_vec()].concat()
}

/// A request with `accept`; the status, the response's Content-Type and its body as JSON.
async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    accept: &str,
    body: Vec<u8>,
) -> (u16, String, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, PROTOBUF)
        .header(http::header::ACCEPT, accept)
        .body(kube::client::Body::from(body))
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let content_type = res.headers()[http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (code, content_type, body)
}

const KUBECTL_ACCEPTS: &str = "application/vnd.kubernetes.protobuf,application/json";

/// apimachinery v1.33 pkg/runtime/serializer/protobuf/protobuf.go `Serializer.Decode`: a body
/// is `k8s\0` and a runtime.Unknown whose raw bytes are the object of typeMeta's kind; the
/// API server answers in the first type the client accepts that it can write (vstp-sim:
/// JSON, which kubectl lists after protobuf).
#[tokio::test]
async fn a_protobuf_namespace_is_created_and_reads_back_as_json() {
    let (_sim, client) = start().await;
    let ns = pb::Namespace {
        metadata: Some(pb_meta::ObjectMeta {
            name: Some("test".into()),
            labels: BTreeMap::from([("team".into(), "qe".into())]),
            ..Default::default()
        }),
        spec: Some(Default::default()),
        status: Some(Default::default()),
    };
    let body = envelope("v1", "Namespace", ns.encode_to_vec());
    let (code, content_type, created) =
        send(&client, "POST", "/api/v1/namespaces", KUBECTL_ACCEPTS, body).await;
    assert_eq!(
        (code, content_type.as_str()),
        (201, "application/json"),
        "{created}"
    );
    assert_eq!(created["metadata"]["name"], "test");
    let read = Api::<Namespace>::all(client).get("test").await.unwrap();
    let labels = read.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("qe"));
}

/// apiserver v1.33 pkg/endpoints/handlers/rest.go `transformDecodeError` (400 naming the
/// kind) over protobuf.go `Serializer.Decode`'s errors; a body without the prefix is refused,
/// never stored.
#[tokio::test]
async fn a_bad_protobuf_body_is_a_400_status_naming_what_is_wrong() {
    let (_sim, client) = start().await;
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, _, status) = send(&client, "POST", path, KUBECTL_ACCEPTS, b"{}".to_vec()).await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("expected prefix"), "{message}");

    let cut = envelope("v1", "ConfigMap", vec![0x0a, 100, 1]);
    let (code, _, status) = send(&client, "POST", path, KUBECTL_ACCEPTS, cut).await;
    assert_eq!(code, 400, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with("ConfigMap in version \"v1\" cannot be handled as a ConfigMap"),
        "{message}"
    );
}

/// A kind vstp-sim does not read from protobuf is refused with 415 naming it, and how to send
/// it instead; custom resources have no protobuf encoding upstream (apiextensions-apiserver
/// pkg/apiserver/customresource_handler.go serves JSON and YAML only).
#[tokio::test]
async fn a_protobuf_body_of_another_kind_is_a_415_naming_the_kind() {
    let (_sim, client) = start().await;
    let pod = envelope("v1", "Pod", pb::Pod::default().encode_to_vec());
    let path = "/api/v1/namespaces/default/pods";
    let (code, _, status) = send(&client, "POST", path, KUBECTL_ACCEPTS, pod).await;
    assert_eq!(code, 415, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("Pod") && message.contains("application/json"),
        "{message}"
    );

    let vm = envelope("kubevirt.io/v1", "VirtualMachine", vec![]);
    let path = "/apis/kubevirt.io/v1/namespaces/default/virtualmachines";
    let (code, _, status) = send(&client, "POST", path, KUBECTL_ACCEPTS, vm).await;
    assert_eq!(code, 415, "{status}");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("custom resource"));
}

/// apimachinery v1.33 pkg/runtime/serializer/negotiation/errors.go `errNotAcceptable`: a
/// client that accepts only what the server cannot write gets 406, not a body it cannot read.
#[tokio::test]
async fn a_protobuf_only_accept_gets_406_and_protobuf_then_json_gets_json() {
    let (_sim, client) = start().await;
    let path = "/api/v1/namespaces/default";
    let (code, _, status) = send(&client, "GET", path, PROTOBUF, vec![]).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (406, Some("NotAcceptable"))
    );
    let (code, content_type, ns) = send(&client, "GET", path, KUBECTL_ACCEPTS, vec![]).await;
    assert_eq!((code, content_type.as_str()), (200, "application/json"));
    assert_eq!(ns["kind"], "Namespace");
}

/// A typed client's delete sends DeleteOptions as protobuf (`kubectl drain --disable-eviction`);
/// they are read, not just accepted: apiserver v1.33 pkg/registry/generic/registry/store.go
/// `Store.Delete` checks the preconditions (409 on another uid) and honours dryRun.
#[tokio::test]
async fn protobuf_delete_options_are_honoured() {
    let (_sim, client) = start().await;
    let api = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let cm = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    api.create(&Default::default(), &cm).await.unwrap();
    let options = |o: pb_meta::DeleteOptions| envelope("v1", "DeleteOptions", o.encode_to_vec());
    let path = "/api/v1/namespaces/default/configmaps/x";
    let other_uid = options(pb_meta::DeleteOptions {
        preconditions: Some(pb_meta::Preconditions {
            uid: Some("not-its-uid".into()),
            resource_version: None,
        }),
        ..Default::default()
    });
    let (code, _, status) = send(&client, "DELETE", path, KUBECTL_ACCEPTS, other_uid).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (409, Some("Conflict")),
        "{status}"
    );
    let dry_run = options(pb_meta::DeleteOptions {
        dry_run: vec!["All".into()],
        ..Default::default()
    });
    let (code, _, _) = send(&client, "DELETE", path, KUBECTL_ACCEPTS, dry_run).await;
    assert_eq!(code, 200);
    assert!(
        api.get_opt("x").await.unwrap().is_some(),
        "a dry run deletes nothing"
    );
    let plain = options(Default::default());
    let (code, _, _) = send(&client, "DELETE", path, KUBECTL_ACCEPTS, plain).await;
    assert_eq!(code, 200);
    assert!(api.get_opt("x").await.unwrap().is_none());
}

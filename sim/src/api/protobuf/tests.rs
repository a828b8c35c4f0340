use std::collections::BTreeMap;

use http::HeaderValue;
use k8s_pb::api::core::v1 as pb;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb_meta;
use serde_json::json;

use super::*;

/// What client-go's protobuf serializer writes: the prefix, then a runtime.Unknown.
fn envelope_of(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [PREFIX.to_vec(), unknown.encode_to_vec()].concat()
}

fn meta(name: &str) -> Option<pb_meta::ObjectMeta> {
    Some(pb_meta::ObjectMeta {
        name: Some(name.into()),
        // Go writes its zero values; JSON leaves them out.
        generate_name: Some(String::new()),
        namespace: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(pb_meta::Time::default()),
        ..Default::default()
    })
}

#[test]
fn a_configmap_reads_as_the_json_kubectl_would_have_sent() {
    let cm = pb::ConfigMap {
        metadata: meta("x"),
        data: BTreeMap::from([("a".into(), "b".into())]),
        binary_data: BTreeMap::from([("bin".into(), vec![0, 1, 2])]),
        ..Default::default()
    };
    let body = envelope_of("v1", "ConfigMap", cm.encode_to_vec());
    assert_eq!(
        decode(&body).unwrap(),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
            "data": {"a": "b"}, "binaryData": {"bin": "AAEC"}})
    );
}

#[test]
fn a_namespace_keeps_its_finalizers_and_times_in_whole_seconds() {
    let mut metadata = meta("test");
    if let Some(m) = metadata.as_mut() {
        m.labels = BTreeMap::from([("team".into(), "qe".into())]);
        m.creation_timestamp = Some(pb_meta::Time {
            seconds: Some(1_700_000_000),
            nanos: Some(5),
        });
    }
    let ns = pb::Namespace {
        metadata,
        spec: Some(pb::NamespaceSpec {
            finalizers: vec!["kubernetes".into()],
        }),
        status: Some(pb::NamespaceStatus::default()),
    };
    let got = decode(&envelope_of("v1", "Namespace", ns.encode_to_vec())).unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "test", "labels": {"team": "qe"}, "creationTimestamp": "2023-11-14T22:13:20Z"},
            "spec": {"finalizers": ["kubernetes"]}, "status": {}})
    );
}

#[test]
fn a_secret_keeps_its_type_and_base64_data() {
    let secret = pb::Secret {
        metadata: meta("s"),
        data: BTreeMap::from([("k".into(), b"v".to_vec())]),
        r#type: Some("kubernetes.io/dockerconfigjson".into()),
        ..Default::default()
    };
    let got = decode(&envelope_of("v1", "Secret", secret.encode_to_vec())).unwrap();
    assert_eq!(got["data"], json!({"k": "dg=="}));
    assert_eq!(got["type"], "kubernetes.io/dockerconfigjson");
}

fn bad_request(body: &[u8]) -> String {
    let e = decode(body).unwrap_err();
    assert_eq!((e.code, e.reason), (400, "BadRequest"), "{e:?}");
    e.message
}

#[test]
fn a_body_without_the_prefix_is_a_bad_request() {
    let message = bad_request(br#"{"kind":"Namespace"}"#);
    assert!(
        message.contains(
            "does not appear to be a protobuf message, expected prefix [107, 56, 115, 0]"
        ),
        "{message}"
    );
    assert!(bad_request(&PREFIX).contains("empty body"));
}

#[test]
fn a_truncated_envelope_is_a_bad_request() {
    let body = envelope_of("v1", "Namespace", vec![]);
    let message = bad_request(&body[..body.len() - 3]);
    assert!(
        message.starts_with("the object provided is unrecognized: "),
        "{message}"
    );
}

#[test]
fn an_object_that_is_not_its_kind_is_a_bad_request_naming_the_kind() {
    // A length-delimited field 1 (metadata) claiming 100 bytes it does not have.
    let message = bad_request(&envelope_of("v1", "Namespace", vec![0x0a, 100, 1]));
    assert!(
        message.starts_with("Namespace in version \"v1\" cannot be handled as a Namespace: "),
        "{message}"
    );
}

#[test]
fn an_envelope_without_a_kind_is_a_bad_request() {
    assert!(bad_request(&envelope_of("v1", "", vec![])).contains("'Kind' is missing"));
}

#[test]
fn kinds_it_does_not_read_are_refused_with_415_naming_the_kind() {
    let pod = decode(&envelope_of("v1", "Pod", vec![])).unwrap_err();
    assert_eq!((pod.code, pod.reason), (415, "UnsupportedMediaType"));
    assert!(pod.message.contains("not Pod (v1)") && pod.message.contains("application/json"));
    let vm = decode(&envelope_of("kubevirt.io/v1", "VirtualMachine", vec![])).unwrap_err();
    assert_eq!(vm.code, 415);
    assert!(vm
        .message
        .contains("VirtualMachine (kubevirt.io/v1) is a custom resource"));
}

fn accepting(value: &'static str) -> HeaderMap {
    HeaderMap::from_iter([(header::ACCEPT, HeaderValue::from_static(value))])
}

#[test]
fn only_a_protobuf_only_accept_is_refused() {
    let refused = unacceptable(&accepting(MEDIA_TYPE)).unwrap();
    assert_eq!((refused.code, refused.reason), (406, "NotAcceptable"));
    let watch = "application/vnd.kubernetes.protobuf;stream=watch";
    assert!(unacceptable(&accepting(watch)).is_some());
    let kubectl = "application/vnd.kubernetes.protobuf,application/json";
    assert!(unacceptable(&accepting(kubectl)).is_none());
    assert!(unacceptable(&accepting("application/json, */*")).is_none());
    assert!(unacceptable(&accepting("")).is_none());
    assert!(unacceptable(&HeaderMap::new()).is_none());
}

#[test]
fn delete_options_keep_the_policy_and_preconditions_they_set() {
    let options = pb_meta::DeleteOptions {
        propagation_policy: Some("Foreground".into()),
        preconditions: Some(pb_meta::Preconditions {
            uid: Some("u1".into()),
            resource_version: None,
        }),
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    let got = decode(&envelope_of("v1", "DeleteOptions", options.encode_to_vec())).unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground",
            "preconditions": {"uid": "u1"}, "gracePeriodSeconds": 0})
    );
}

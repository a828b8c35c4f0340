//! No request makes the server fail: thousands of generated requests (seeded, so a failure
//! repeats) over real paths, methods, content types and broken bodies must each get a
//! non-5xx answer that is a Status or an object, and the server must keep serving.

mod common;

use common::raw;
use serde_json::Value;

/// A small deterministic generator (64-bit LCG); no dependency and the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next() as usize % items.len()]
    }
}

const PATHS: &[&str] = &[
    "/api/v1/namespaces/default/configmaps",
    "/api/v1/namespaces/default/configmaps/c",
    "/api/v1/namespaces/default/pods/p/status",
    "/api/v1/namespaces/default/pods/p/eviction",
    "/api/v1/namespaces/default",
    "/api/v1/nodes/n",
    "/apis/kubevirt.io/v1/namespaces/default/virtualmachines",
    "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm",
    "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm/status",
    "/apis/nmstate.io/v1/nodenetworkconfigurationpolicies/x",
    "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachines/vm/start",
    "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm/portforward/22",
    "/apis/kubevirt.io/v1/namespaces/default/virtualmachines?labelSelector=a%20notin%20(",
    "/api/v1/pods?fieldSelector=spec.nodeName%3D%3D",
    "/apis/../../etc/passwd",
    "/api/v1/namespaces//configmaps",
];
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
const TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "text/plain",
];
const BODIES: &[&str] = &[
    "",
    "{}",
    "null",
    "[]",
    "{\"metadata\":{\"name\":\"c\"}}",
    "{\"metadata\":{\"name\":\"vm\",\"finalizers\":[\"x\"]},\"spec\":{}}",
    "{\"metadata\":{\"name\":\"p\"},\"status\":{\"phase\":7}}",
    "{\"metadata\":{\"name\":\"c\",\"resourceVersion\":\"1\"}}",
    "{\"metadata\":{\"name\":[]}}",
    "{\"metadata\":\"x\"}",
    "[{\"op\":\"remove\",\"path\":\"/metadata\"}]",
    "[{\"op\":\"replace\",\"path\":\"/kind\",\"value\":\"Pod\"}]",
    "[{\"op\":\"move\",\"from\":\"/spec\",\"path\":\"/spec/x\"}]",
    "{\"apiVersion\":\"v9\",\"kind\":\"Nope\"}",
    "{\"metadata\":{\"name\":\"p\",\"ownerReferences\":[{\"uid\":5}]}}",
    "{\"propagationPolicy\":\"Orphan\",\"preconditions\":{\"uid\":\"x\"}}",
    "{\"spec\":{\"$patch\":\"delete\"}}",
    "{{{{",
    "a: [b",
    "\u{0}\u{1}\u{2}",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_get_a_5xx() {
    let (sim, _) = common::start().await;
    let client = common::client_without_retry(&sim).await;
    let mut rng = Rng(0x5eed);
    for i in 0..3_000 {
        let (method, path, ty, body) = (
            rng.pick(METHODS),
            rng.pick(PATHS),
            rng.pick(TYPES),
            rng.pick(BODIES),
        );
        let (code, answer) = raw(&client, method, path, ty, body.as_bytes().to_vec()).await;
        let described = format!("request {i}: {method} {path} ({ty}) {body:?} -> {code} {answer}");
        assert!(code < 500 && code != 0, "{described}");
        if code >= 400 && !path.contains("portforward") {
            assert_eq!(answer["kind"], Value::from("Status"), "{described}");
        }
    }
    let (code, _) = raw(&client, "GET", "/version", "application/json", vec![]).await;
    assert_eq!(code, 200, "the server still answers");
}

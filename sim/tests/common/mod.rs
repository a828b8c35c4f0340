//! Shared set-up of the simulator tests: a fresh simulator and a kube client built from the
//! kubeconfig it writes, the same path kubectl and the harness take.
#![allow(dead_code)]

use std::sync::Arc;

use http_body_util::BodyExt;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;
use vstp_sim::world::World;
use vstp_sim::{Sim, SimConfig, SimHandle};

pub mod net;
pub mod user_networks;
pub mod virt;

pub async fn start() -> (SimHandle, kube::Client) {
    start_with(SimConfig::default()).await
}

pub async fn start_with_world(world: Arc<dyn World>) -> (SimHandle, kube::Client) {
    start_with(SimConfig {
        world,
        ..SimConfig::default()
    })
    .await
}

pub async fn start_with(config: SimConfig) -> (SimHandle, kube::Client) {
    let sim = Sim::start(config).await.expect("simulator starts");
    let client = client_for(&sim.kubeconfig()).await;
    (sim, client)
}

pub async fn client_for(kubeconfig: &str) -> kube::Client {
    kube::Client::try_from(config_for(kubeconfig).await).expect("client builds")
}

async fn config_for(kubeconfig: &str) -> kube::Config {
    let file = kube::config::Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig parses");
    kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .expect("kubeconfig is usable")
}

/// A client that does not retry 429/503/504 by itself (kube's default does, for up to 15
/// attempts), for tests that assert those answers.
pub async fn client_without_retry(sim: &SimHandle) -> kube::Client {
    let mut config = config_for(&sim.kubeconfig()).await;
    config.default_retry = false;
    kube::Client::try_from(config).expect("client builds")
}

pub fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn vms(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = resource("kubevirt.io", "v1", "VirtualMachine", "virtualmachines");
    Api::namespaced_with(client.clone(), ns, &ar)
}

pub fn vm(name: &str) -> DynamicObject {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": {"devices": {}}}}},
        "status": {"printableStatus": "Stopped"}
    }))
    .expect("valid VM")
}

/// Sends a raw request through the client (auth and TLS from the kubeconfig); returns the
/// status code and the body parsed as JSON (Null when empty or not JSON).
pub async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(kube::client::Body::from(body))
        .expect("valid request");
    let res = client.send(req).await.expect("request is sent");
    let code = res.status().as_u16();
    let bytes = res
        .into_body()
        .collect()
        .await
        .expect("body arrives")
        .to_bytes();
    (code, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// The API error behind a kube error, or a panic naming what came instead.
pub fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API Status error, got {other:?}"),
    }
}

/// The array at `v`, made one when it is not.
pub fn ensure_array(v: &mut Value) -> &mut Vec<Value> {
    if !v.is_array() {
        *v = Value::Array(Vec::new());
    }
    v.as_array_mut().expect("just made an array")
}

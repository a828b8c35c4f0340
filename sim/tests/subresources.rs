//! Evictions and KubeVirt subresources reach the world layer; the port-forward websocket
//! carries raw bytes with the `plain.kubevirt.io` subprotocol.

mod common;

use std::sync::{Arc, Mutex};

use common::{api_error, raw, start, start_with_world};
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, EvictParams, PostParams};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, protocol::Role, Message};
use vstp_sim::error::{ApiError, ApiResult};
use vstp_sim::store::Store;
use vstp_sim::world::{GuestStream, PortForward, VirtCall, VirtReply, World};

/// A world that records calls, refuses evictions of pods labelled `protected`, and echoes
/// port-forwarded bytes back upper-cased.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
}

impl World for Recorder {
    fn start(self: Arc<Self>, _store: Arc<Store>, _faults: Arc<vstp_sim::faults::Faults>) {}

    fn evict(&self, _store: &Store, pod: &Value, dry_run: bool) -> ApiResult<()> {
        self.calls.lock().unwrap().push(format!(
            "evict {} dry_run={dry_run}",
            pod["metadata"]["name"]
        ));
        if pod["metadata"]["labels"]["protected"].is_string() {
            return Err(ApiError::too_many_requests(
                "Eviction triggered evacuation of VMI \"default/vm1\"",
            ));
        }
        Ok(())
    }

    fn vm_call(&self, _store: &Store, call: VirtCall<'_>) -> ApiResult<VirtReply> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("vm {} {} {}", call.name, call.action, call.body));
        Ok(VirtReply {
            code: 202,
            body: None,
        })
    }

    fn vmi_call(&self, _store: &Store, call: VirtCall<'_>) -> ApiResult<VirtReply> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("vmi {} {}", call.name, call.action));
        Ok(VirtReply {
            code: 200,
            body: Some(json!({"hostname": call.name})),
        })
    }

    fn portforward(&self, _store: &Store, f: &PortForward<'_>) -> ApiResult<Box<dyn GuestStream>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("portforward {} {}/{}", f.name, f.port, f.protocol));
        let (ours, theirs) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut r, mut w) = tokio::io::split(ours);
            let mut buf = [0u8; 256];
            while let Ok(n) = r.read(&mut buf).await {
                if n == 0 || w.write_all(&buf[..n].to_ascii_uppercase()).await.is_err() {
                    break;
                }
            }
        });
        Ok(Box::new(theirs))
    }
}

fn pod(name: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "c"}]}})).unwrap()
}

#[tokio::test]
async fn eviction_deletes_the_pod_or_is_refused_with_429() {
    let world = Arc::new(Recorder::default());
    let (sim, _) = start_with_world(world.clone()).await;
    let client = common::client_without_retry(&sim).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.create(&PostParams::default(), &pod("free", json!({})))
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &pod("launcher", json!({"protected": "yes"})),
    )
    .await
    .unwrap();
    pods.evict("free", &EvictParams::default()).await.unwrap();
    assert_eq!(api_error(pods.get("free").await.unwrap_err()).code, 404);
    let s = api_error(
        pods.evict("launcher", &EvictParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
    assert!(s.message.contains("triggered evacuation"), "{}", s.message);
    assert!(pods.get("launcher").await.is_ok());
    let s = api_error(
        pods.evict("ghost", &EvictParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 404);
    assert_eq!(
        world.calls.lock().unwrap().len(),
        2,
        "the missing pod never reached the world"
    );
}

#[tokio::test]
async fn kubevirt_subresources_reach_the_world_with_their_bodies() {
    let world = Arc::new(Recorder::default());
    let (_sim, client) = start_with_world(world.clone()).await;
    let base = "/apis/subresources.kubevirt.io/v1/namespaces/default";
    let (code, _) = raw(
        &client,
        "PUT",
        &format!("{base}/virtualmachines/vm1/migrate"),
        "application/json",
        br#"{"addedNodeSelector":{"zone":"b"}}"#.to_vec(),
    )
    .await;
    assert_eq!(code, 202);
    let alpha = "/apis/subresources.kubevirt.io/v1alpha3/namespaces/default";
    let (code, body) = raw(
        &client,
        "GET",
        &format!("{alpha}/virtualmachineinstances/vm1/guestosinfo"),
        "application/json",
        vec![],
    )
    .await;
    assert_eq!((code, body), (200, json!({"hostname": "vm1"})));
    let (code, _) = raw(
        &client,
        "GET",
        &format!("{base}/virtualmachines/vm1/start"),
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(code, 405, "start is a PUT");
    let (code, _) = raw(
        &client,
        "PUT",
        &format!("{base}/virtualmachines/vm1/teleport"),
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(code, 404);
    let calls = world.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            r#"vm vm1 migrate {"addedNodeSelector":{"zone":"b"}}"#,
            "vmi vm1 guestosinfo"
        ]
    );
}

#[tokio::test]
async fn without_a_world_kubevirt_subresources_say_so() {
    let (_sim, client) = start().await;
    let path = "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachines/vm1/start";
    let (code, body) = raw(&client, "PUT", path, "application/json", vec![]).await;
    assert_eq!(code, 404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("virtualmachines/start"),
        "{body}"
    );
}

async fn open_portforward(
    client: &kube::Client,
    path: &str,
    offer: Option<&str>,
) -> http::Response<kube::client::Body> {
    let key = tungstenite::handshake::client::generate_key();
    let mut req = http::Request::get(path)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .header(http::header::SEC_WEBSOCKET_KEY, &key);
    if let Some(p) = offer {
        req = req.header(http::header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    let res = client
        .send(req.body(kube::client::Body::empty()).unwrap())
        .await
        .unwrap();
    if res.status() == 101 {
        let accept = res.headers()[http::header::SEC_WEBSOCKET_ACCEPT]
            .to_str()
            .unwrap();
        assert_eq!(
            accept,
            tungstenite::handshake::derive_accept_key(key.as_bytes())
        );
    }
    res
}

#[tokio::test]
async fn portforward_carries_raw_bytes_over_plain_kubevirt_io() {
    let world = Arc::new(Recorder::default());
    let (_sim, client) = start_with_world(world.clone()).await;
    let path = "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm1/portforward/22/tcp";
    let res = open_portforward(&client, path, Some("plain.kubevirt.io")).await;
    assert_eq!(res.status(), 101);
    assert_eq!(
        res.headers()[http::header::SEC_WEBSOCKET_PROTOCOL],
        "plain.kubevirt.io"
    );
    let upgraded = hyper::upgrade::on(res).await.unwrap();
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Client,
        None,
    )
    .await;
    ws.send(Message::binary(b"ssh-2.0".to_vec())).await.unwrap();
    let echoed = loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(b) => break b,
            Message::Ping(_) => continue,
            other => panic!("expected binary data, got {other:?}"),
        }
    };
    assert_eq!(&echoed[..], b"SSH-2.0");
    ws.close(None).await.unwrap();
    assert_eq!(
        world.calls.lock().unwrap().as_slice(),
        ["portforward vm1 22/tcp"]
    );

    let res = open_portforward(&client, path, None).await;
    assert_eq!(res.status(), 101);
    assert!(
        res.headers()
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .is_none(),
        "no subprotocol unless offered"
    );
}

/// kubevirt v1.9.0 pkg/virt-api/api.go routes `portforward/{port}[/{protocol}]` and hands both
/// to the dialer unchecked; pkg/virt-api/rest/streamer.go Handle dials before the websocket
/// upgrade, so a plain GET reaches the dial and is then refused by the upgrader.
#[tokio::test]
async fn portforward_passes_port_and_protocol_to_the_dial_and_checks_the_handshake_after() {
    let world = Arc::new(Recorder::default());
    let (_sim, client) = start_with_world(world.clone()).await;
    let base = "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm1/portforward";
    let res = open_portforward(&client, base, Some("plain.kubevirt.io")).await;
    assert_eq!(res.status(), 404, "no port, no route");
    let res = open_portforward(&client, &format!("{base}/22/tcp/x"), None).await;
    assert_eq!(res.status(), 404);
    let res = open_portforward(&client, &format!("{base}/99999/sctp"), None).await;
    assert_eq!(res.status(), 101);
    let (code, status) = raw(
        &client,
        "GET",
        &format!("{base}/22"),
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(code, 400, "a plain GET is not a websocket");
    assert_eq!(
        status["message"],
        "websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header"
    );
    assert_eq!(
        world.calls.lock().unwrap().as_slice(),
        ["portforward vm1 99999/sctp", "portforward vm1 22/tcp"]
    );
}

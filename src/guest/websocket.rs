//! The websocket of a KubeVirt VMI subresource (`portforward`, `console`), opened as virtctl
//! opens it: an HTTP upgrade through the API server with the subprotocol `plain.kubevirt.io`
//! (kubevirt v1.9.0 staging/src/kubevirt.io/client-go/kubevirt/typed/core/v1
//! virtualmachineinstance_expansion.go).

use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::{self, protocol::Role};

pub type Socket = tokio_tungstenite::WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Said of a 401 from the API server: retrying cannot help, logging in again can.
pub const CREDENTIALS_REFUSED: &str =
    " (the API server refused the kubeconfig's credentials: the token has expired or is not valid; log in again and rerun)";

/// Why the websocket did not open.
pub enum Unopened {
    /// The API server or virt-api answered with something other than an upgrade.
    Refused { status: u16, message: String },
    /// The request or the upgrade broke on the way.
    Transport(Box<dyn std::error::Error + Send + Sync>),
}

/// Opens the websocket at `path` (an `/apis/subresources.kubevirt.io/…` path).
pub async fn open(client: &kube::Client, path: String) -> Result<Socket, Unopened> {
    let transport = |e: Box<dyn std::error::Error + Send + Sync>| Unopened::Transport(e);
    let request = http::Request::get(path)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .header(
            http::header::SEC_WEBSOCKET_KEY,
            tungstenite::handshake::client::generate_key(),
        )
        .header(http::header::SEC_WEBSOCKET_PROTOCOL, "plain.kubevirt.io")
        .body(kube::client::Body::empty())
        .map_err(|e| transport(e.into()))?;
    let response = client
        .send(request)
        .await
        .map_err(|e| transport(e.into()))?;
    if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status().as_u16();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        return Err(Unopened::Refused {
            status,
            message: status_message(&body),
        });
    }
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|e| transport(e.into()))?;
    Ok(tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Client,
        None,
    )
    .await)
}

/// The message of a `Status` body, or the body itself.
pub fn status_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|s| s["message"].as_str().map(String::from))
        .unwrap_or_else(|| body.trim().to_string())
}

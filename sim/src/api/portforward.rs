//! `{virtualmachineinstances|virtualmachines}/{name}/portforward/{port}[/{protocol}]` and
//! `virtualmachineinstances/{name}/console`: a websocket carrying the
//! raw bytes of one guest connection in binary frames, as virt-api serves it. The subprotocol
//! `plain.kubevirt.io` is echoed only when the client offered it; the server pings every
//! second and drops a client that has not answered for a minute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use http::{header, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::error_response;
use super::path::{Route, VirtResource};
use super::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::world::{GuestStream, PortForward};

pub const SUBPROTOCOL: &str = "plain.kubevirt.io";
const PING_EVERY: Duration = Duration::from_secs(1);
const PONG_DEADLINE: Duration = Duration::from_secs(60);

/// The path's parts: `{port}[/{protocol}]` after `portforward`, as go-restful routes them
/// (no port or more segments match no route).
struct Forward {
    namespace: String,
    name: String,
    via_vm: bool,
    port: String,
    protocol: String,
}

fn forward_of(route: Route) -> ApiResult<Forward> {
    let Route::Virt {
        namespace,
        resource,
        name,
        rest,
        ..
    } = route
    else {
        return Err(ApiError::path_not_found());
    };
    let (Some(port), true) = (rest.first(), rest.len() <= 2) else {
        return Err(ApiError::path_not_found());
    };
    Ok(Forward {
        namespace,
        name,
        via_vm: resource == VirtResource::VirtualMachine,
        port: port.clone(),
        protocol: rest.get(1).cloned().unwrap_or_else(|| "tcp".into()),
    })
}

/// gorilla/websocket Upgrader.Upgrade's refusals, checked after the dial as virt-api's
/// Streamer.Handle does (kubevirt v1.9.0 pkg/virt-api/rest/streamer.go).
fn handshake_refusal(req: &Request) -> Option<&'static str> {
    let has_token = |name, token: &str| {
        header_str(req, name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if !has_token(header::CONNECTION, "upgrade") {
        return Some("websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header");
    }
    if !has_token(header::UPGRADE, "websocket") {
        return Some("websocket: the client is not using the websocket protocol: 'websocket' token not found in 'Upgrade' header");
    }
    if !has_token(header::SEC_WEBSOCKET_VERSION, "13") {
        return Some(
            "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header",
        );
    }
    if header_str(req, header::SEC_WEBSOCKET_KEY).is_none_or(str::is_empty) {
        return Some("websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte length");
    }
    None
}

fn header_str(req: &Request, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

pub fn upgrade(state: &Arc<ApiState>, route: Route, req: Request) -> Response {
    let forward = match forward_of(route) {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    let target = PortForward {
        namespace: &forward.namespace,
        name: &forward.name,
        via_vm: forward.via_vm,
        port: &forward.port,
        protocol: &forward.protocol,
    };
    match state.world.portforward(&state.store, &target) {
        Ok(guest) => accept(req, guest),
        Err(e) => error_response(&e),
    }
}

/// `virtualmachineinstances/{name}/console`: the guest's serial console, streamed the same
/// way (kubevirt v1.9.0 pkg/virt-api/rest/console.go ConsoleRequestHandler, NewRawStreamer).
/// virt-api routes it for VMIs only, with nothing after `console`.
pub fn console(state: &Arc<ApiState>, route: Route, req: Request) -> Response {
    let Route::Virt {
        namespace,
        resource: VirtResource::VirtualMachineInstance,
        name,
        rest,
        ..
    } = route
    else {
        return error_response(&ApiError::path_not_found());
    };
    if !rest.is_empty() {
        return error_response(&ApiError::path_not_found());
    }
    match state.world.console(&state.store, &namespace, &name) {
        Ok(guest) => accept(req, guest),
        Err(e) => error_response(&e),
    }
}

/// Upgrades the request to a websocket that carries `guest`'s bytes.
fn accept(mut req: Request, guest: Box<dyn GuestStream>) -> Response {
    if let Some(refusal) = handshake_refusal(&req) {
        return error_response(&ApiError::bad_request(refusal));
    }
    let key = header_str(&req, header::SEC_WEBSOCKET_KEY).unwrap_or_default();
    let accept = derive_accept_key(key.as_bytes());
    let offered = header_str(&req, header::SEC_WEBSOCKET_PROTOCOL)
        .is_some_and(|p| p.split(',').any(|p| p.trim() == SUBPROTOCOL));
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            bridge(ws, guest).await;
        }
    });
    let mut response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept);
    if offered {
        response = response.header(header::SEC_WEBSOCKET_PROTOCOL, SUBPROTOCOL);
    }
    response
        .body(Body::empty())
        .expect("static headers are valid")
}

/// Copies bytes both ways until either side closes.
async fn bridge<S>(mut ws: WebSocketStream<S>, guest: Box<dyn GuestStream>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut from_guest, mut to_guest) = tokio::io::split(guest);
    let mut buf = vec![0u8; 32 * 1024];
    let mut pings = tokio::time::interval(PING_EVERY);
    let mut last_pong = Instant::now();
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Binary(data))) => {
                    if to_guest.write_all(&data).await.is_err() { break; }
                }
                Some(Ok(Message::Text(text))) => {
                    if to_guest.write_all(text.as_bytes()).await.is_err() { break; }
                }
                Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    let _ = to_guest.shutdown().await;
                    break;
                }
                Some(Ok(_)) => {}
            },
            read = from_guest.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    let _ = ws.send(Message::Close(None)).await;
                    break;
                }
                Ok(n) => {
                    if ws.send(Message::binary(buf[..n].to_vec())).await.is_err() { break; }
                }
            },
            _ = pings.tick() => {
                if last_pong.elapsed() > PONG_DEADLINE { break; }
                if ws.send(Message::Ping(Default::default())).await.is_err() { break; }
            }
        }
    }
}

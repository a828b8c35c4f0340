//! A TCP connection into a guest through the KubeVirt VMI `portforward` subresource: a
//! websocket (subprotocol `plain.kubevirt.io`) whose binary frames carry the byte stream. It is
//! handed out as one end of a Unix socket pair, so blocking clients (libssh2) can use it.

use std::os::unix::net::UnixStream;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{self, Message};

use super::websocket::{self, Unopened};

#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("the port-forward to {vmi} port {port} was refused: HTTP {status}: {message}{}", hint(*.status, .message))]
    Refused {
        vmi: String,
        port: u16,
        status: u16,
        /// The `Status` message virt-api answered with (or the raw body).
        message: String,
    },
    #[error("the port-forward to {vmi} port {port} failed: {source}")]
    Transport {
        vmi: String,
        port: u16,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What to make of virt-api's refusals (kubevirt v1.9.0 pkg/virt-api/rest/portforward.go
/// validateVMIForPortForward, dialers.go netDial.DialUnderlying).
fn hint(status: u16, message: &str) -> &'static str {
    match status {
        409 if message.ends_with("VMI is paused") => {
            " (the VMI is paused: unpause it, e.g. `virtctl unpause vmi NAME`, before connecting)"
        }
        400 if message.contains("no network interfaces are present") => {
            " (the VMI reports no interfaces in its status yet, and virt-api forwards to the first one's address: wait until it runs and reports them)"
        }
        500 if message.contains("dialing VM") && message.ends_with("connection timed out") => {
            " (virt-api could not reach the address of the VMI's first interface: on a primary user-defined network that address is isolated from virt-api's pod, kubevirt/kubevirt issue 18399; reach such a guest over its serial console)"
        }
        500 if message.contains("dialing VM") => {
            " (virt-api found nothing listening at the address of the VMI's first interface: is the guest up and the service listening on that port?)"
        }
        404 => " (no such VMI: was it deleted, or is the name or namespace wrong?)",
        401 => super::websocket::CREDENTIALS_REFUSED,
        403 => " (the kubeconfig's user may not open virtualmachineinstances/portforward in this namespace)",
        _ => "",
    }
}

/// An open tunnel: the socket to hand to a client, and the task that pumps it (stopped when
/// the tunnel is dropped).
pub struct Tunnel {
    pub socket: UnixStream,
    pump: tokio::task::JoinHandle<()>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

/// Opens a tunnel to `port` of VMI `ns/vmi`; a busy or failing API server (429, 5xx) is
/// asked again with the API calls' backoff. A failed dial ("dialing VM: …", 500) is the
/// guest's answer, nothing listening there, and is final: who waits for a guest to come up
/// decides how long (access.rs `Guest::reach`).
pub async fn open(
    client: &kube::Client,
    ns: &str,
    vmi: &str,
    port: u16,
) -> Result<Tunnel, TunnelError> {
    let busy = |e: &TunnelError, attempt| match e {
        TunnelError::Refused {
            status, message, ..
        } if *status == 429 || (*status >= 500 && !message.contains("dialing VM")) => {
            Some(crate::cluster::retry::backoff(attempt))
        }
        _ => None,
    };
    crate::cluster::retry::retrying_when(|| open_once(client, ns, vmi, port), busy).await
}

async fn open_once(
    client: &kube::Client,
    ns: &str,
    vmi: &str,
    port: u16,
) -> Result<Tunnel, TunnelError> {
    let transport = |e: Box<dyn std::error::Error + Send + Sync>| TunnelError::Transport {
        vmi: format!("{ns}/{vmi}"),
        port,
        source: e,
    };
    let path = format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances/{vmi}/portforward/{port}/tcp"
    );
    let ws = websocket::open(client, path).await.map_err(|e| match e {
        Unopened::Refused { status, message } => TunnelError::Refused {
            vmi: format!("{ns}/{vmi}"),
            port,
            status,
            message,
        },
        Unopened::Transport(e) => transport(e),
    })?;
    let (ours, theirs) = UnixStream::pair().map_err(|e| transport(e.into()))?;
    theirs
        .set_nonblocking(true)
        .map_err(|e| transport(e.into()))?;
    let theirs = tokio::net::UnixStream::from_std(theirs).map_err(|e| transport(e.into()))?;
    Ok(Tunnel {
        socket: ours,
        pump: tokio::spawn(pump(ws, theirs)),
    })
}

/// Copies bytes both ways until either side closes.
async fn pump<S>(ws: S, unix: tokio::net::UnixStream)
where
    S: futures::Stream<Item = Result<Message, tungstenite::Error>> + futures::Sink<Message> + Unpin,
{
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (mut rd, mut wr) = unix.into_split();
    let up = async move {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0
                || ws_tx
                    .send(Message::binary(buf[..n].to_vec()))
                    .await
                    .is_err()
            {
                break;
            }
        }
        let _ = ws_tx.close().await;
    };
    let down = async move {
        while let Some(Ok(message)) = ws_rx.next().await {
            match message {
                Message::Binary(bytes) if wr.write_all(&bytes).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = wr.shutdown().await;
    };
    tokio::join!(up, down);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, body: &str) -> String {
        let message = websocket::status_message(body);
        TunnelError::Refused {
            vmi: "ns/a".into(),
            port: 22,
            status,
            message,
        }
        .to_string()
    }

    #[test]
    fn virt_apis_refusals_say_what_to_do() {
        let paused = r#"{"kind":"Status","code":409,"reason":"Conflict","message":"Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"a\": VMI is paused"}"#;
        let e = refused(409, paused);
        assert!(
            e.contains("HTTP 409: Operation cannot be fulfilled") && e.contains("unpause"),
            "{e}"
        );
        let e = refused(
            400,
            r#"{"code":400,"message":"no network interfaces are present"}"#,
        );
        assert!(e.contains("reports no interfaces"), "{e}");
        let dial = r#"{"code":500,"message":"Internal error occurred: dialing VM: dial tcp 10.0.2.2:22: connect: connection refused"}"#;
        let e = refused(500, dial);
        assert!(
            e.contains("connection refused") && e.contains("nothing listening"),
            "{e}"
        );
        let isolated = r#"{"code":500,"message":"Internal error occurred: dialing VM: dial tcp 10.100.0.5:22: connect: connection timed out"}"#;
        let e = refused(500, isolated);
        assert!(
            e.contains("isolated") && e.contains("serial console"),
            "{e}"
        );
        assert_eq!(
            refused(502, "bad gateway\n"),
            "the port-forward to ns/a port 22 was refused: HTTP 502: bad gateway"
        );
    }
}

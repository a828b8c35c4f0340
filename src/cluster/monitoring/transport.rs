//! One HTTPS request to a route's host: TLS trusting the cluster's ingress CA (and the
//! system's roots, for a router with a publicly signed certificate), HTTP/1.1, bearer token.
//! The kube client's connection is not reused: a route is served by the router, not by the
//! API server. A proxy that wants credentials is not supported.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a route is reached.
#[derive(Clone)]
pub struct Endpoint {
    /// The route's host: TLS server name and `Host` header.
    pub host: String,
    /// Where to connect: the host on 443 on a cluster, the simulator's router otherwise.
    pub address: Address,
    pub tls: Arc<ClientConfig>,
}

#[derive(Debug, Clone)]
pub enum Address {
    /// Resolve the host through DNS (the cluster's wildcard record), port 443.
    Dns,
    /// Through an HTTP CONNECT tunnel of this proxy (the one kubectl would use for the host).
    Proxy(http::Uri),
    /// The router's published address (vstp-sim's stands in for the DNS record).
    Router(SocketAddr),
}

/// TLS trusting the PEM certificates of `ca_bundle` and the system's roots.
pub fn tls_trusting(ca_bundle: Option<&str>) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in ca_bundle
        .map(|b| CertificateDer::pem_slice_iter(b.as_bytes()))
        .into_iter()
        .flatten()
    {
        let cert = cert.context("the ingress CA bundle holds a certificate that does not parse")?;
        roots
            .add(cert)
            .context("the ingress CA bundle holds an unusable certificate")?;
    }
    // A missing or unreadable system store leaves the ingress CA alone, which is what an
    // OpenShift router's default certificate chains to.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS 1.2/1.3 are not available")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// POSTs `form` (application/x-www-form-urlencoded) to `path` on `endpoint`; the status and
/// body of the answer.
pub async fn post_form(
    endpoint: &Endpoint,
    path: &str,
    token: &str,
    form: String,
) -> anyhow::Result<(u16, bytes::Bytes)> {
    let exchange = exchange(endpoint, path, token, form);
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "no answer from https://{}{path} within {REQUEST_TIMEOUT:?}",
                endpoint.host
            )
        })?
}

/// A byte stream TLS can run over: a TCP connection, or a tunnel through a proxy.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// The connection to the route's host, as its address says; with the authority the `Host`
/// header names.
async fn open(endpoint: &Endpoint) -> anyhow::Result<(Box<dyn Stream>, String)> {
    let host = &endpoint.host;
    let direct = |r: std::io::Result<tokio::net::TcpStream>| {
        r.with_context(|| format!("cannot connect to {host} ({:?})", endpoint.address))
    };
    match &endpoint.address {
        Address::Router(at) => {
            let tcp = direct(tokio::net::TcpStream::connect(at).await)?;
            Ok((Box::new(tcp), format!("{host}:{}", at.port())))
        }
        Address::Dns => {
            let tcp = direct(tokio::net::TcpStream::connect((host.as_str(), 443)).await)?;
            Ok((Box::new(tcp), host.clone()))
        }
        Address::Proxy(proxy) => Ok((Box::new(tunnel(proxy, host).await?), host.clone())),
    }
}

/// How to reach `host` on a cluster: through the proxy kubectl would take for
/// `https://host` (HTTPS_PROXY unless NO_PROXY covers it, see [`crate::cluster::proxy`]), or
/// straight.
pub fn cluster_address(host: &str) -> anyhow::Result<Address> {
    let server: http::Uri = format!("https://{host}").parse()?;
    let proxy = crate::cluster::proxy::proxy_for(&server, None, |n| std::env::var(n).ok())?;
    Ok(proxy.map_or(Address::Dns, Address::Proxy))
}

/// An HTTP CONNECT tunnel to `host:443` through `proxy`.
async fn tunnel(
    proxy: &http::Uri,
    host: &str,
) -> anyhow::Result<TokioIo<hyper::upgrade::Upgraded>> {
    let (proxy_host, port) = (proxy.host().unwrap_or(""), proxy.port_u16().unwrap_or(80));
    let tcp = tokio::net::TcpStream::connect((proxy_host, port))
        .await
        .with_context(|| format!("cannot connect to the proxy {proxy} for {host}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(connection.with_upgrades());
    let target = format!("{host}:443");
    let connect = http::Request::connect(target.as_str())
        .header(http::header::HOST, target.as_str())
        .body(http_body_util::Empty::<bytes::Bytes>::new())?;
    let answer = sender.send_request(connect).await?;
    if !answer.status().is_success() {
        anyhow::bail!(
            "the proxy {proxy} refused a tunnel to {target}: {}",
            answer.status()
        );
    }
    Ok(TokioIo::new(hyper::upgrade::on(answer).await?))
}

async fn exchange(
    endpoint: &Endpoint,
    path: &str,
    token: &str,
    form: String,
) -> anyhow::Result<(u16, bytes::Bytes)> {
    let host = &endpoint.host;
    let (stream, authority) = open(endpoint).await?;
    let name = ServerName::try_from(host.clone())
        .with_context(|| format!("{host} is not a valid server name"))?;
    let tls = tokio_rustls::TlsConnector::from(endpoint.tls.clone())
        .connect(name, stream)
        .await
        .with_context(|| format!("TLS with {host} failed: is the router's certificate signed by the ingress CA (openshift-config-managed/default-ingress-cert)?"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    let request = http::Request::post(path)
        .header(http::header::HOST, authority)
        .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(http_body_util::Full::new(bytes::Bytes::from(form)))?;
    let response = sender
        .send_request(request)
        .await
        .with_context(|| format!("the request to {host}{path} failed"))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A CONNECT proxy on 127.0.0.1 that sends every tunnel to `to`; its URI.
    async fn proxy_to(to: SocketAddr) -> http::Uri {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut client, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(client.read_u8().await.unwrap());
            }
            assert!(
                head.starts_with(b"CONNECT "),
                "{}",
                String::from_utf8_lossy(&head)
            );
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .unwrap();
            let mut server = tokio::net::TcpStream::connect(to).await.unwrap();
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
        format!("http://{at}").parse().unwrap()
    }

    #[tokio::test]
    async fn a_route_is_reached_at_the_router_and_through_a_connect_proxy() {
        let sim = vstp_sim::Sim::start(Default::default()).await.unwrap();
        let endpoint = |address| Endpoint {
            host: vstp_sim::monitoring::route_host(),
            address,
            tls: tls_trusting(Some(sim.ingress_ca_pem())).unwrap(),
        };
        let form = || "query=kubevirt_vmi_vnic_info".to_string();
        let direct = endpoint(Address::Router(sim.router_address()));
        let (status, body) = post_form(&direct, "/api/v1/query", sim.token(), form())
            .await
            .unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let proxied = endpoint(Address::Proxy(proxy_to(sim.router_address()).await));
        let (status, body) = post_form(&proxied, "/api/v1/query", sim.token(), form())
            .await
            .unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let (status, _) = post_form(&direct, "/api/v1/query", "not-the-token", form())
            .await
            .unwrap();
        assert_eq!(status, 401);
    }
}

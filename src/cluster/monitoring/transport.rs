//! One HTTPS request to a route's host: TLS trusting the cluster's ingress CA (and the
//! system's roots, for a router with a publicly signed certificate), HTTP/1.1, bearer token.
//! The kube client's connection is not reused: a route is served by the router, not by the
//! API server.

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

async fn exchange(
    endpoint: &Endpoint,
    path: &str,
    token: &str,
    form: String,
) -> anyhow::Result<(u16, bytes::Bytes)> {
    let host = &endpoint.host;
    let (tcp, authority) = match &endpoint.address {
        Address::Dns => (
            tokio::net::TcpStream::connect((host.as_str(), 443)).await,
            host.clone(),
        ),
        Address::Router(at) => (
            tokio::net::TcpStream::connect(at).await,
            format!("{host}:{}", at.port()),
        ),
    };
    let tcp = tcp.with_context(|| format!("cannot connect to {host} ({:?})", endpoint.address))?;
    let name = ServerName::try_from(host.clone())
        .with_context(|| format!("{host} is not a valid server name"))?;
    let tls = tokio_rustls::TlsConnector::from(endpoint.tls.clone())
        .connect(name, tcp)
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

//! TLS for the API server. kubectl (client-go) only sends a bearer token over TLS, so the
//! simulator mints a throw-away CA and a server certificate for 127.0.0.1 at start; the
//! kubeconfig it writes carries that CA, so clients verify the server as on a real cluster.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

pub struct Tls {
    /// The CA certificate clients trust, PEM.
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("cannot create the simulator's TLS certificate: {e}")
}

/// The API server's: a CA of its own and a certificate for 127.0.0.1 and localhost.
pub fn generate() -> Result<Tls, String> {
    mint("vstp-sim CA", "vstp-sim", &["127.0.0.1", "localhost"])
}

/// A throw-away CA called `ca_name` and a server certificate `leaf_name` for `names`.
pub fn mint(ca_name: &str, leaf_name: &str, names: &[&str]) -> Result<Tls, String> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let issuer =
        CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(err)?).map_err(err)?;

    let key = KeyPair::generate().map_err(err)?;
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut leaf = CertificateParams::new(names).map_err(err)?;
    leaf.distinguished_name.push(DnType::CommonName, leaf_name);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = leaf.signed_by(&key, &issuer).map_err(err)?;

    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone(), issuer.der().clone()], private)
        .map_err(err)?;
    // The API is HTTP/1.1 only (websocket upgrades need it), as kube-rs speaks it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: issuer.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    })
}

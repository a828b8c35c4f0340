//! vstp-sim: the simulated cluster vstp runs against when no real cluster is at hand.
//!
//! [`Sim::start`] serves a real Kubernetes HTTP API on 127.0.0.1 (discovery, CRUD, patch,
//! watch, subresources, bearer-token auth) that kube-rs and kubectl use unmodified, over an
//! in-memory [`store::Store`]. What the cluster *does* (KubeVirt, NMState, Multus, OVN-K,
//! guests) is a [`world::World`] plugged in behind it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sim = vstp_sim::Sim::start(vstp_sim::SimConfig::default()).await?;
//! std::fs::write("/tmp/vstp-sim.kubeconfig", sim.kubeconfig())?;
//! println!("API at {}", sim.url());
//! # Ok(()) }
//! ```

pub mod access;
pub mod api;
pub mod clock;
pub mod controllers;
pub mod durations;
pub mod error;
pub mod faults;
pub mod gojson;
pub mod guest;
pub mod kinds;
pub mod monitoring;
pub mod obj;
pub mod qemu;
pub mod quantity;
pub mod store;
pub mod telemetry;
mod tls;
pub mod world;

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::json;

use crate::clock::Clock;
use crate::faults::Faults;
use crate::store::{Scope, Store, StoreConfig};
use crate::world::{BareApi, World};

/// Virtual seconds per real second unless told otherwise: a modelled 5-minute migration
/// takes 5 real seconds.
pub const DEFAULT_TIME_SCALE: f64 = 60.0;

/// How to start a simulator.
pub struct SimConfig {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Virtual seconds per real second for modelled durations.
    pub time_scale: f64,
    /// Comma-separated names from [`faults::CATALOGUE`].
    pub faults: String,
    /// Varies modelled durations (see [`clock::Clock::seeded`]); `None` keeps them exact.
    pub seed: Option<u64>,
    pub world: Arc<dyn World>,
    pub store: StoreConfig,
    /// What the token may do, as SelfSubjectAccessReview answers it.
    pub role: access::Role,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            port: 0,
            time_scale: DEFAULT_TIME_SCALE,
            faults: String::new(),
            seed: None,
            world: Arc::new(BareApi),
            store: StoreConfig::default(),
            role: access::Role::default(),
        }
    }
}

impl SimConfig {
    /// A simulator with OpenShift Virtualization's behaviour on a cluster shaped like `spec`.
    pub fn cluster(spec: world::nodes::ClusterSpec) -> Result<SimConfig, SimError> {
        let world = controllers::Virtualization::new(spec).map_err(SimError::Config)?;
        Ok(SimConfig {
            world: Arc::new(world),
            ..SimConfig::default()
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(
        "cannot listen on 127.0.0.1:{port}: {source}; pick another --port or 0 for any free port"
    )]
    Bind { port: u16, source: std::io::Error },
    #[error("{0}")]
    Config(String),
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    address: SocketAddr,
    token: String,
    ca_pem: String,
    store: Arc<Store>,
    /// The API server, the router (thanos-querier's route) and Prometheus's scrapes.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    router_address: SocketAddr,
    ingress_ca_pem: String,
}

/// Namespaces every cluster starts with.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

pub struct Sim;

impl Sim {
    /// Starts the API server on 127.0.0.1 inside the current tokio runtime.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let faults = Arc::new(Faults::parse(&config.faults).map_err(SimError::Config)?);
        let mut clock = Clock::new(config.time_scale)
            .map_err(SimError::Config)?
            .slowed(faults.slowdown());
        if let Some(seed) = config.seed {
            clock = clock.seeded(seed);
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| SimError::Bind {
                port: config.port,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| SimError::Bind {
            port: config.port,
            source,
        })?;
        // The router takes any free port: only the API server's port is asked for.
        let bind_router = |source| SimError::Bind { port: 0, source };
        let router = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(bind_router)?;
        let router_address = router.local_addr().map_err(bind_router)?;
        let store = Arc::new(Store::new(clock, config.store));
        for ns in INITIAL_NAMESPACES {
            let namespace = json!({"metadata": {"name": ns}});
            store
                .create(kinds::NAMESPACES, namespace, Scope::Main, false)
                .map_err(|e| SimError::Config(e.to_string()))?;
        }
        // The harness reads the time scale here to scale its wait budgets, the router's
        // address to reach routes' hosts (the cluster's wildcard DNS record, see
        // `monitoring`), and what runs the guests (reports name it; the qemu lane's known
        // flaw is told apart by it).
        let mut scale = json!({"metadata": {"name": "vstp-sim", "namespace": "kube-system"},
                           "data": {"timeScale": config.time_scale.to_string(),
                                    "routerAddress": router_address.to_string()}});
        if let Some(guests) = config.world.guests() {
            scale["data"]["guests"] = json!(guests);
        }
        store
            .create(kinds::CONFIGMAPS, scale, Scope::Main, false)
            .map_err(|e| SimError::Config(e.to_string()))?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let tls = tls::generate().map_err(SimError::Config)?;
        let wildcard = format!("*.{}", monitoring::APPS_DOMAIN);
        let ingress = tls::mint("ingress-operator CA", "router-default", &[&wildcard])
            .map_err(SimError::Config)?;
        monitoring::publish(&store, &ingress.ca_pem).map_err(SimError::Config)?;
        let metrics = monitoring::Monitoring::new(store.clone(), &faults);
        // Subscribed before anything is served, so the regression sees every write.
        let observer = metrics.spawn_observer();
        let querier = Arc::new(monitoring::querier::Querier {
            tsdb: metrics.tsdb.clone(),
            token: token.clone(),
            host: monitoring::route_host(),
            path: monitoring::ROUTE_PATH,
        });
        let state = Arc::new(api::ApiState {
            store: store.clone(),
            world: config.world.clone(),
            token: token.clone(),
            address: address.to_string(),
            faults: faults.clone(),
            role: config.role,
        });
        config.world.clone().start(store.clone(), faults);
        let tasks = vec![
            tokio::spawn(serve(listener, tls.acceptor, api::router(state))),
            tokio::spawn(serve(
                router,
                ingress.acceptor,
                monitoring::querier::router(querier),
            )),
            metrics.spawn_scrapes(),
        ];
        let tasks = tasks.into_iter().chain(observer).collect();
        Ok(SimHandle {
            address,
            token,
            ca_pem: tls.ca_pem,
            store,
            tasks,
            router_address,
            ingress_ca_pem: ingress.ca_pem,
        })
    }
}

/// Accepts connections until the server task is aborted; each gets TLS, then HTTP/1.1 with
/// upgrades (for the port-forward websocket).
async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: axum::Router,
) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            // Out of file descriptors or similar: back off instead of spinning.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            }
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .with_upgrades()
                .await;
        });
    }
}

impl SimHandle {
    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// The CA (PEM) that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Where the router serves routes' hosts (thanos-querier's among them).
    pub fn router_address(&self) -> SocketAddr {
        self.router_address
    }

    /// The CA (PEM) that signed the router's certificate.
    pub fn ingress_ca_pem(&self) -> &str {
        &self.ingress_ca_pem
    }

    /// The bearer token every request must carry.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The requests served and the change times recorded so far.
    pub fn telemetry(&self) -> &crate::telemetry::Telemetry {
        &self.store.telemetry
    }

    /// A kubeconfig with one context, `vstp-sim`, that kubectl and kube-rs use as it is.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: vstp-sim\n  cluster:\n    server: {url}\n    \
             certificate-authority-data: {ca}\n\
             users:\n- name: vstp-sim\n  user:\n    token: {token}\ncontexts:\n- name: vstp-sim\n  context:\n    \
             cluster: vstp-sim\n    user: vstp-sim\n    namespace: default\ncurrent-context: vstp-sim\npreferences: {{}}\n",
            url = self.url(),
            ca = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &self.ca_pem),
            token = self.token
        )
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

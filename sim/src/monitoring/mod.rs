//! OpenShift's cluster monitoring, as far as KubeVirt's vNIC metrics go: virt-controller's
//! `/metrics` text, a Prometheus that scrapes it every 30 modelled seconds, and thanos-querier
//! answering instant queries behind the `thanos-querier` route of `openshift-monitoring`.
//!
//! The route's host resolves nowhere: the simulator's router listens on a port of its own on
//! 127.0.0.1 and publishes it as `routerAddress` in the ConfigMap `kube-system/vstp-sim`, which
//! stands in for the cluster's wildcard DNS record. Its certificate is signed by an ingress CA
//! published where OpenShift's ingress operator puts its own
//! (`openshift-config-managed/default-ingress-cert`, key `ca-bundle.crt`).

pub mod exposition;
pub mod querier;
pub mod query;
pub mod tsdb;
pub mod vnic;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::kinds;
use crate::store::{Scope, Selectors, Store};
use exposition::InfoGauge;
use tsdb::{Scrape, Tsdb};
use vnic::VnicCollector;

pub const NAMESPACE: &str = "openshift-monitoring";
pub const ROUTE: &str = "thanos-querier";
/// The cluster's ingress domain (a name under the reserved `.test` TLD: it resolves nowhere).
pub const APPS_DOMAIN: &str = "apps.vstp-sim.test";
/// The route's path (cluster-monitoring-operator assets/thanos-querier/route.yaml).
pub const ROUTE_PATH: &str = "/api";

/// Modelled seconds between two scrapes: prometheus-operator's default `scrapeInterval` (30s),
/// which OpenShift's `k8s` Prometheus and KubeVirt's ServiceMonitor (no interval of its own)
/// keep.
pub const SCRAPE_INTERVAL_SECS: f64 = 30.0;
/// Modelled seconds a sample stays visible to queries without a newer scrape (Prometheus's
/// default `--query.lookback-delta`, 5m).
pub const LOOKBACK_SECS: f64 = 300.0;

/// The route's host, as the router's default host template names it (`<route>-<namespace>.
/// <ingress domain>`).
pub fn route_host() -> String {
    format!("{ROUTE}-{NAMESPACE}.{APPS_DOMAIN}")
}

/// Labels Prometheus gives every sample scraped from virt-controller (the metric's own win,
/// `honorLabels: true`), and the external label thanos-querier answers with.
const TARGET_LABELS: &[(&str, &str)] = &[
    ("job", "kubevirt-prometheus-metrics"),
    ("service", "kubevirt-prometheus-metrics"),
    ("endpoint", "metrics"),
    ("namespace", crate::world::config::KUBEVIRT_NAMESPACE),
    ("container", "virt-controller"),
    ("pod", "virt-controller-7d9f8c6b5-vstp1"),
    ("instance", "10.128.0.20:8443"),
    ("prometheus", "openshift-monitoring/k8s"),
];

/// virt-controller's collectors and the Prometheus that scrapes them.
pub struct Monitoring {
    store: Arc<Store>,
    collector: VnicCollector,
    pub tsdb: Arc<Tsdb>,
    /// Real time between scrapes.
    interval: Duration,
}

impl Monitoring {
    pub fn new(store: Arc<Store>, faults: &crate::faults::Faults) -> Arc<Monitoring> {
        let clock = store.clock().clone();
        let lookback = clock.real(Duration::from_secs_f64(LOOKBACK_SECS));
        let stale = faults.has(crate::faults::Fault::VnicMetricStale);
        Arc::new(Monitoring {
            interval: clock.real(Duration::from_secs_f64(SCRAPE_INTERVAL_SECS)),
            store,
            collector: VnicCollector::new(stale),
            tsdb: Arc::new(Tsdb::new(lookback)),
        })
    }

    /// What virt-controller's `/metrics` answers now (the vNIC info gauges).
    pub fn metrics_text(&self) -> String {
        let all = Selectors::default();
        let vmis = self.store.list(kinds::VMIS, None, &all).0;
        let vms = self.store.list(kinds::VMS, None, &all).0;
        exposition::encode(vec![
            InfoGauge {
                name: vnic::VM_VNIC_INFO,
                help: vnic::VM_VNIC_HELP,
                series: self.collector.vms(&vms),
            },
            InfoGauge {
                name: vnic::VMI_VNIC_INFO,
                help: vnic::VMI_VNIC_HELP,
                series: self.collector.vmis(&vmis),
            },
        ])
    }

    /// One scrape: the text read back and stored under the scrape's time.
    pub fn scrape(&self) {
        let at_ms = chrono::Utc::now().timestamp_millis();
        // The text is the collectors' own encoding: a parse failure is a simulator bug, and
        // Prometheus would record the scrape as failed (`up` 0) and keep nothing of it.
        let samples = exposition::parse(&self.metrics_text(), TARGET_LABELS).unwrap_or_default();
        self.tsdb.append(Scrape { at_ms, samples });
    }

    /// Under `vnic-metric-stale`, follows every VM and VMI write (the regression's memory of
    /// first networks); nothing otherwise.
    pub fn spawn_observer(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        if !self.collector.is_stale() {
            return None;
        }
        let mut events = self.store.events();
        let this = self.clone();
        Some(tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => this.collector.observe(event.kind, &event.object),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        }))
    }

    /// Scrapes now and then every interval, until the task is aborted.
    pub fn spawn_scrapes(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                self.scrape();
            }
        })
    }
}

/// The objects a fresh OpenShift has for monitoring: the namespace, the admitted
/// thanos-querier route, and the ingress CA its certificate chains to.
pub fn publish(store: &Store, ingress_ca_pem: &str) -> Result<(), String> {
    let now = store.clock().timestamp();
    let host = route_host();
    let namespace = json!({"metadata": {"name": NAMESPACE,
        "labels": {"openshift.io/cluster-monitoring": "true"}}});
    // cluster-monitoring-operator assets/thanos-querier/route.yaml, admitted by the default
    // router (openshift/router pkg/router/controller status.go: an `Admitted` ingress entry).
    let route = json!({
        "metadata": {"name": ROUTE, "namespace": NAMESPACE, "labels": {
            "app.kubernetes.io/component": "query-layer",
            "app.kubernetes.io/instance": "thanos-querier",
            "app.kubernetes.io/name": "thanos-query",
            "app.kubernetes.io/part-of": "openshift-monitoring"}},
        "spec": {"host": host, "path": ROUTE_PATH, "port": {"targetPort": "web"},
                 "tls": {"insecureEdgeTerminationPolicy": "Redirect", "termination": "reencrypt"},
                 "to": {"kind": "Service", "name": "thanos-querier", "weight": 100},
                 "wildcardPolicy": "None"},
        "status": {"ingress": [{"host": host, "routerName": "default",
            "routerCanonicalHostname": format!("router-default.{APPS_DOMAIN}"),
            "wildcardPolicy": "None",
            "conditions": [{"type": "Admitted", "status": "True", "lastTransitionTime": now}]}]}
    });
    let ingress_ca = json!({"metadata": {"name": "default-ingress-cert",
        "namespace": "openshift-config-managed"}, "data": {"ca-bundle.crt": ingress_ca_pem}});
    let config_ns = json!({"metadata": {"name": "openshift-config-managed"}});
    let created = [
        store.create(kinds::NAMESPACES, namespace, Scope::All, false),
        store.create(kinds::NAMESPACES, config_ns, Scope::All, false),
        store.create(kinds::ROUTES, route, Scope::All, false),
        store.create(kinds::CONFIGMAPS, ingress_ca, Scope::All, false),
    ];
    for result in created {
        result.map_err(|e| format!("cannot publish the monitoring stack: {e}"))?;
    }
    Ok(())
}

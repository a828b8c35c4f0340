//! The cluster's monitoring, where OpenShift serves it: thanos-querier behind the
//! `thanos-querier` route of `openshift-monitoring`, asked Prometheus's instant queries with
//! the run's bearer token (kube-rbac-proxy in front of it lets a token that may `get`
//! namespaces through).
//!
//! Prometheus has no watch. What it has is a schedule: a series is sampled once per scrape
//! interval, and `timestamp(selector)` says when its current sample was taken. So a wait asks
//! once, and asks again only when the next sample exists — at the last sample's time plus the
//! interval, reckoned on Prometheus's own clock (the answer's evaluation time) — within a
//! named budget. Every query after the first reads a sample the previous one could not have
//! seen; none re-reads a state that cannot have changed, which is what makes this a wait on a
//! known schedule rather than polling.

pub mod answer;
pub mod transport;

use std::time::Duration;

use anyhow::Context as _;

use super::budget::Budgets;
use super::kinds;
use answer::Series;
use transport::{Address, Endpoint};

pub const NAMESPACE: &str = "openshift-monitoring";
pub const ROUTE: &str = "thanos-querier";

/// Prometheus's scrape interval on OpenShift (prometheus-operator's default, which the `k8s`
/// Prometheus and KubeVirt's ServiceMonitor keep), in real seconds on a cluster.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(30);

/// A connected query client.
pub struct Monitoring {
    endpoint: Endpoint,
    token: String,
    /// The scrape interval on the target's clock.
    interval: Duration,
}

impl Monitoring {
    /// Finds the route, the CA its certificate chains to and, on vstp-sim, its router.
    /// `token` is the run's bearer token (`None` when the kubeconfig authenticates otherwise).
    pub async fn connect(
        client: &kube::Client,
        token: Option<&str>,
        budgets: Budgets,
    ) -> anyhow::Result<Monitoring> {
        let token = token.ok_or_else(|| {
            anyhow::anyhow!(
            "thanos-querier takes a bearer token and the kubeconfig's user has none (it uses a \
             client certificate or an exec plugin): log in with a token (`oc login --token …`) \
             and pass that kubeconfig")
        })?;
        let routes = kinds::ROUTE.api(client, NAMESPACE);
        let route = super::retry::retrying(|| routes.get(ROUTE)).await.with_context(|| {
            format!("cannot read route {NAMESPACE}/{ROUTE}: is OpenShift's cluster monitoring installed, and may this user read routes there?")
        })?;
        let host = route_host(&route.data)?;
        let ca = config_map_key(
            client,
            "openshift-config-managed",
            "default-ingress-cert",
            "ca-bundle.crt",
        )
        .await;
        let address = match config_map_key(client, "kube-system", "vstp-sim", "routerAddress").await
        {
            Some(at) => Address::Router(at.parse().with_context(|| {
                format!("the simulator's routerAddress {at:?} is not host:port")
            })?),
            None => transport::cluster_address(&host)?,
        };
        Ok(Monitoring {
            endpoint: Endpoint {
                host,
                address,
                tls: transport::tls_trusting(ca.as_deref())?,
            },
            token: token.to_string(),
            interval: budgets.window(SCRAPE_INTERVAL),
        })
    }

    /// An instant query now; the answer's vector.
    pub async fn query(&self, promql: &str) -> anyhow::Result<answer::Vector> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .finish();
        let (status, body) =
            transport::post_form(&self.endpoint, "/api/v1/query", &self.token, form).await?;
        answer::read(status, &body)
            .with_context(|| format!("query `{promql}` on https://{}", self.endpoint.host))
    }

    /// Waits until the series `selector` selects satisfy `want`, reading each new scrape once
    /// (see the module's doc), for at most `budget`. The timeout says what the last answer held.
    pub async fn await_series(
        &self,
        selector: &str,
        what: &str,
        budget: Duration,
        want: impl Fn(&[Series]) -> bool,
    ) -> anyhow::Result<Vec<Series>> {
        let deadline = tokio::time::Instant::now() + budget;
        let stamped = format!("timestamp({selector})");
        loop {
            let answer = self.query(&stamped).await?;
            let series = answer.series();
            if want(&series) {
                return Ok(series);
            }
            let next = tokio::time::Instant::now() + self.until_next_scrape(&answer);
            if next > deadline {
                anyhow::bail!(
                    "{what}: not so within {budget:?} (scrapes every {:?}); the last answer to `{selector}` held {}",
                    self.interval,
                    answer::describe(&series)
                );
            }
            tokio::time::sleep_until(next).await;
        }
    }

    /// From the answer's evaluation time to the next scrape of its newest sample, with a tenth
    /// of an interval for the scrape to be stored; a whole interval when nothing was selected.
    fn until_next_scrape(&self, answer: &answer::Vector) -> Duration {
        let margin = self.interval / 10;
        match answer.newest_sample_age() {
            Some(age) => self.interval.saturating_sub(age) + margin,
            None => self.interval + margin,
        }
    }
}

/// `spec.host` of an admitted route (status.ingress[].host is the same for the default router).
fn route_host(route: &serde_json::Value) -> anyhow::Result<String> {
    let host = route["spec"]["host"].as_str().filter(|h| !h.is_empty());
    host.map(String::from).ok_or_else(|| {
        anyhow::anyhow!(
            "route {NAMESPACE}/{ROUTE} has no spec.host; the router has not admitted it: {}",
            route["status"]
        )
    })
}

/// One key of a ConfigMap, if the map exists and this user may read it.
async fn config_map_key(client: &kube::Client, ns: &str, name: &str, key: &str) -> Option<String> {
    let api = kinds::CONFIG_MAP.api(client, ns);
    let map = super::retry::retrying(|| api.get_opt(name)).await.ok()??;
    map.data["data"][key].as_str().map(String::from)
}

/// A PromQL string literal (double-quoted, with `\` and `"` escaped).
pub fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `metric{label="value",…}`.
pub fn selector(metric: &str, labels: &[(&str, &str)]) -> String {
    let matchers: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", quoted(v)))
        .collect();
    format!("{metric}{{{}}}", matchers.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_scale_60() -> Monitoring {
        Monitoring {
            endpoint: Endpoint {
                host: "thanos".into(),
                address: Address::Dns,
                tls: transport::tls_trusting(None).unwrap(),
            },
            token: "t".into(),
            interval: Budgets {
                scale: 60.0,
                slack: 1.0,
            }
            .window(SCRAPE_INTERVAL),
        }
    }

    fn stamped(evaluated: f64, scraped: f64) -> answer::Vector {
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[{evaluated},"{scraped}"]}}]}}}}"#
        );
        answer::read(200, body.as_bytes()).unwrap()
    }

    #[test]
    fn the_next_query_is_due_when_the_next_scrape_is() {
        let m = at_scale_60();
        assert_eq!(m.interval, Duration::from_millis(500));
        let margin = Duration::from_millis(50);
        let fresh = stamped(100.1, 100.0);
        assert_eq!(
            m.until_next_scrape(&fresh),
            Duration::from_millis(400) + margin
        );
        let overdue = stamped(103.0, 100.0);
        assert_eq!(m.until_next_scrape(&overdue), margin);
        let empty = answer::read(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
        )
        .unwrap();
        assert_eq!(m.until_next_scrape(&empty), m.interval + margin);
    }

    #[test]
    fn label_values_are_quoted_for_promql() {
        let s = selector("m", &[("name", "vm-a"), ("odd", r#"a"b\c"#)]);
        assert_eq!(s, r#"m{name="vm-a",odd="a\"b\\c"}"#);
    }
}

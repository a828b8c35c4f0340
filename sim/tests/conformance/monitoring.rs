//! KubeVirt's vNIC info metrics as a client of OpenShift's monitoring reads them: through the
//! `thanos-querier` route of `openshift-monitoring`, with the cluster's bearer token, scraped
//! every 30 modelled seconds.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use kube::api::{Api, DynamicObject, PostParams};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use vstp_sim::monitoring::SCRAPE_INTERVAL_SECS;
use vstp_sim::SimHandle;

use super::*;
use crate::common::net::{vlan10_and_vlan20, vm_on};

/// The route's host, read as a client would.
async fn route_host(client: &kube::Client) -> String {
    let ar = resource("route.openshift.io", "v1", "Route", "routes");
    let routes: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "openshift-monitoring", &ar);
    let route = value(&routes.get("thanos-querier").await.unwrap());
    let admitted = &route["status"]["ingress"][0]["conditions"][0];
    assert_eq!(
        (&admitted["type"], &admitted["status"]),
        (&json!("Admitted"), &json!("True"))
    );
    route["spec"]["host"].as_str().unwrap().to_string()
}

/// One HTTPS request to the router for `host` (SNI and Host), trusting the ingress CA.
async fn router_request(
    sim: &SimHandle,
    host: &str,
    token: Option<&str>,
    method: &str,
    target: &str,
    form: &str,
) -> (u16, String) {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(sim.ingress_ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(sim.router_address())
        .await
        .unwrap();
    let name = ServerName::try_from(host.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("the router's certificate is valid for the route's host");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut request = http::Request::builder()
        .method(method)
        .uri(target)
        .header("host", host)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::from(
            form.to_string(),
        )))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn encoded(query: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("query", query)
        .finish()
}

/// An instant query (POSTed as a form, as Prometheus clients do); the `result` vector.
async fn query(sim: &SimHandle, host: &str, q: &str) -> Vec<Value> {
    let (status, body) = router_request(
        sim,
        host,
        Some(sim.token()),
        "POST",
        "/api/v1/query",
        &encoded(q),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["data"]["resultType"], "vector", "{answer}");
    answer["data"]["result"].as_array().unwrap().clone()
}

/// Real time between two scrapes at the default time scale.
fn scrape_interval() -> Duration {
    Duration::from_secs_f64(SCRAPE_INTERVAL_SECS / vstp_sim::DEFAULT_TIME_SCALE)
}

/// The series `selector` selects from the first scrape at or after `after_ms`: reads when the
/// selected samples were scraped and, while that is before `after_ms`, waits until the next
/// scrape is due (a timer on the scrape interval, three at most) and asks again.
async fn scraped_after(sim: &SimHandle, host: &str, selector: &str, after_ms: i64) -> Vec<Value> {
    let mut seen = Vec::new();
    for _ in 0..3 {
        let stamps = query(sim, host, &format!("timestamp({selector})")).await;
        let at: Vec<f64> = stamps
            .iter()
            .map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
            .collect();
        if !at.is_empty() && at.iter().all(|t| (t * 1000.0).round() as i64 >= after_ms) {
            return query(sim, host, selector).await;
        }
        seen = at;
        tokio::time::sleep(scrape_interval()).await;
    }
    panic!("no scrape after {after_ms} ms selected by {selector} within three intervals; last scrape times {seen:?}");
}

fn networks(result: &[Value]) -> Vec<&str> {
    result
        .iter()
        .map(|s| s["metric"]["network"].as_str().unwrap())
        .collect()
}

/// Boots VM `a` on vlan10, swaps net1 to vlan20 and returns the real time (Unix ms) just
/// before the swap and the time the VMI spec was seen naming vlan20.
async fn swap(client: &kube::Client) -> (i64, i64) {
    vlan10_and_vlan20(client).await;
    let vm = vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0");
    vm_api(client)
        .create(&PostParams::default(), &vm)
        .await
        .unwrap();
    until(&vmis(client), "a", "created", |v| {
        v["spec"]["networks"][1]["multus"]["networkName"] == "vlan10"
    })
    .await;
    let before = chrono::Utc::now().timestamp_millis();
    json_patch_vm(client, "a", json!([{"op": "replace", "path": "/spec/template/spec/networks/1/multus/networkName", "value": "vlan20"}])).await;
    until(&vmis(client), "a", "synced", |v| {
        v["spec"]["networks"][1]["multus"]["networkName"] == "vlan20"
    })
    .await;
    (before, chrono::Utc::now().timestamp_millis())
}

const VMI_NET1: &str = r#"kubevirt_vmi_vnic_info{namespace="default",name="a",vnic_name="net1"}"#;
const VM_NET1: &str = r#"kubevirt_vm_vnic_info{namespace="default",name="a",vnic_name="net1"}"#;

/// kubevirt/kubevirt pkg/monitoring/metrics/virt-controller vmistats_collector.go
/// `CollectVmisVnicInfo` and vmstats_collector.go `CollectVmsVnicInfo`/`getNetworkName`: the
/// `network` label is the Multus networkName of the spec, so the VMI series follows the swap
/// once the VM controller has synced it into the VMI spec; a query sees it from the next
/// scrape on, and nothing before it.
#[tokio::test]
async fn the_vnic_info_network_follows_a_nad_swap_from_the_next_scrape_on() {
    let (sim, client) = cluster().await;
    let host = route_host(&client).await;
    let (before, synced) = swap(&client).await;

    let at_before = format!(
        "/api/v1/query?{}&time={}",
        encoded(VMI_NET1),
        before as f64 / 1000.0
    );
    let (status, body) =
        router_request(&sim, &host, Some(sim.token()), "GET", &at_before, "").await;
    assert_eq!(status, 200, "{body}");
    let old: Value = serde_json::from_str(&body).unwrap();
    let old = old["data"]["result"].as_array().unwrap().clone();
    assert!(
        networks(&old).iter().all(|n| *n == "vlan10"),
        "before the swap: {old:?}"
    );

    let now = scraped_after(&sim, &host, VMI_NET1, synced).await;
    assert_eq!(networks(&now), ["vlan20"], "{now:?}");
    let labels = &now[0]["metric"];
    assert_eq!(labels["__name__"], "kubevirt_vmi_vnic_info");
    assert_eq!(
        (&labels["binding_type"], &labels["binding_name"]),
        (&json!("core"), &json!("bridge"))
    );
    assert_eq!(labels["model"], "<none>");
    assert_eq!(
        networks(&scraped_after(&sim, &host, VM_NET1, synced).await),
        ["vlan20"]
    );
    let pod = query(
        &sim,
        &host,
        r#"kubevirt_vmi_vnic_info{name="a",network=~"pod.*"}"#,
    )
    .await;
    assert_eq!(networks(&pod), ["pod networking"]);
}

/// The `vnic-metric-stale` regression: the series keeps the old network after the swap.
#[tokio::test]
async fn under_vnic_metric_stale_the_metric_keeps_the_old_network() {
    let (sim, client) = cluster_with_faults("vnic-metric-stale").await;
    let host = route_host(&client).await;
    let (_, synced) = swap(&client).await;
    let now = scraped_after(&sim, &host, VMI_NET1, synced).await;
    assert_eq!(networks(&now), ["vlan10"], "{now:?}");
}

/// kube-rbac-proxy in front of thanos-querier refuses a request without the token (401); the
/// router answers 503 for a host no route has; Prometheus's API answers 400 `bad_data` for a
/// query it cannot parse and, here, for one outside the supported subset.
#[tokio::test]
async fn the_query_api_refuses_what_prometheus_and_its_proxies_refuse() {
    let (sim, client) = cluster().await;
    let host = route_host(&client).await;
    let q = format!("/api/v1/query?{}", encoded("kubevirt_vmi_vnic_info"));
    assert_eq!(
        router_request(&sim, &host, None, "GET", &q, "").await.0,
        401
    );
    assert_eq!(
        router_request(&sim, &host, Some("wrong"), "GET", &q, "")
            .await
            .0,
        401
    );
    let other = "grafana-openshift-monitoring.apps.vstp-sim.test";
    assert_eq!(
        router_request(&sim, other, Some(sim.token()), "GET", &q, "")
            .await
            .0,
        503
    );
    for bad in ["sum(kubevirt_vmi_vnic_info)", "kubevirt_vmi_vnic_info{"] {
        let (status, body) = router_request(
            &sim,
            &host,
            Some(sim.token()),
            "POST",
            "/api/v1/query",
            &encoded(bad),
        )
        .await;
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (status, &answer["status"], &answer["errorType"]),
            (400, &json!("error"), &json!("bad_data")),
            "{bad}: {body}"
        );
    }
    let (status, body) = router_request(
        &sim,
        &host,
        Some(sim.token()),
        "GET",
        &format!("{q}&time=soon"),
        "",
    )
    .await;
    assert!(
        status == 400 && body.contains("invalid parameter \\\"time\\\""),
        "{body}"
    );
}

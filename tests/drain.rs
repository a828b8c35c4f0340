//! The harness's drain against a standalone simulator reached as a cluster, where the node
//! runs pods besides VMs: a Deployment's pods are evicted as their disruption budget allows,
//! one at a time when it allows one; a budget that allows none fails the drain at its budget
//! with an error naming the pod and the budget.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use serde_json::{json, Value};
use vstp::cluster::wait::Watch;
use vstp::cluster::{cordon, drain, kinds, nodes, usable, NamespaceKind, Scope};
use vstp::ctx::Ctx;
use vstp::runner::Outcome;

mod support;
use support::runs::{cluster, run_one, with_body};

const APP: &str = "web";

/// Deployment `web` of `replicas` pods guarded by budget `web` with `budget` (its spec), every
/// pod on `node`: the other workers are cordoned while the pods are placed, then uncordoned so
/// the replacements have somewhere to go.
async fn web_on(scope: &Scope, node: &str, replicas: i32, budget: Value) -> anyhow::Result<()> {
    let client = scope.client();
    let others: Vec<String> = usable::select(client)
        .await?
        .names()
        .into_iter()
        .filter(|w| w != node)
        .collect();
    for other in &others {
        nodes::cordon(scope, other).await?;
    }
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": APP},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}},
                 "template": {"metadata": {"labels": {"app": APP}},
                              "spec": {"containers": [{"name": APP, "image": "registry.example/web:1"}],
                                       "volumes": [{"name": "cache", "emptyDir": {}}]}}},
    }))?;
    Api::<Deployment>::namespaced(client.clone(), scope.ns())
        .create(&PostParams::default(), &deployment)
        .await?;
    let mut spec = budget;
    spec["selector"] = json!({"matchLabels": {"app": APP}});
    let pdb: PodDisruptionBudget =
        serde_json::from_value(json!({"metadata": {"name": APP}, "spec": spec}))?;
    Api::<PodDisruptionBudget>::namespaced(client.clone(), scope.ns())
        .create(&PostParams::default(), &pdb)
        .await?;
    let want = replicas as usize;
    Watch::all(client, kinds::POD, scope.ns())
        .until("the web pods Ready", Duration::from_secs(20), |seen| {
            (seen.values().filter(|p| ready(p)).count() == want).then_some(())
        })
        .await?;
    for other in &others {
        cordon::uncordon(client, other).await?;
    }
    Ok(())
}

fn ready(pod: &Value) -> bool {
    vstp::cluster::wait::condition::status_of(pod, "Ready") == Some("True")
        && !pod["metadata"]["deletionTimestamp"].is_string()
}

/// The UID of virt-handler's pod on `node`.
async fn daemon_pod_on(client: &kube::Client, node: &str) -> anyhow::Result<Option<String>> {
    let params = kube::api::ListParams::default()
        .labels("kubevirt.io=virt-handler")
        .fields(&format!("spec.nodeName={node}"));
    let pods = Api::<Pod>::all(client.clone()).list(&params).await?;
    Ok(pods.items.first().and_then(|p| p.metadata.uid.clone()))
}

/// One step of the pods' history: a pod became Ready, or went.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Ready(String),
    Gone(String),
}

/// Records, in order, when pods of `ns` become Ready and when they go.
fn record(client: kube::Client, ns: String) -> Arc<Mutex<Vec<Step>>> {
    let history = Arc::new(Mutex::new(Vec::new()));
    let steps = history.clone();
    tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client, &ns);
        let mut stream = std::pin::pin!(watcher::watcher(api, watcher::Config::default()));
        while let Ok(Some(event)) = stream.try_next().await {
            let step = match event {
                watcher::Event::Apply(p) => {
                    let p = serde_json::to_value(&p).unwrap_or_default();
                    ready(&p)
                        .then(|| Step::Ready(p["metadata"]["name"].as_str().unwrap_or("").into()))
                }
                watcher::Event::Delete(p) => Some(Step::Gone(p.metadata.name.unwrap_or_default())),
                _ => None,
            };
            let mut steps = steps.lock().unwrap();
            if let Some(step) = step.filter(|s| !steps.contains(s)) {
                steps.push(step);
            }
        }
    });
    history
}

/// Two web pods on the drained node, a budget allowing one disruption: the drain succeeds,
/// and the second pod goes only after the first one's replacement is Ready (the API refused
/// its eviction until then, eviction.go `checkAndDecrement`).
fn drains_through_a_budget_of_one(
    ctx: Ctx,
) -> futures::future::BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let node = usable::select(scope.client()).await?.names().remove(0);
        web_on(&scope, &node, 2, json!({"maxUnavailable": 1})).await?;
        let handler_before = daemon_pod_on(scope.client(), &node).await?;
        let history = record(scope.client().clone(), scope.ns().to_string());
        let drained = drain::drain(&scope, &node, Duration::from_secs(20)).await?;
        let handler_after = daemon_pod_on(scope.client(), &node).await?;
        anyhow::ensure!(
            handler_after == handler_before,
            "virt-handler's pod on {node} was {handler_before:?} before the drain and {handler_after:?} after: DaemonSet pods stay"
        );
        let ours: Vec<&String> = drained
            .others
            .iter()
            .filter(|p| p.contains("/web-"))
            .collect();
        anyhow::ensure!(
            ours.len() == 2,
            "expected both web pods evicted, got {:?}",
            drained.others
        );
        let steps = history.lock().unwrap().clone();
        let gone: Vec<usize> = (0..steps.len())
            .filter(|i| matches!(steps[*i], Step::Gone(_)))
            .collect();
        anyhow::ensure!(gone.len() == 2, "expected two web pods gone: {steps:?}");
        let replacement_ready = steps[gone[0]..gone[1]]
            .iter()
            .any(|s| matches!(s, Step::Ready(n) if !ours.iter().any(|o| o.ends_with(n.as_str()))));
        anyhow::ensure!(
            replacement_ready,
            "the second web pod went before the first one's replacement was Ready: {steps:?}"
        );
        Ok(())
    })
}

#[test]
fn a_drain_evicts_a_deployment_one_pod_at_a_time_as_its_budget_allows() {
    let sim = cluster("drain-pdb-one", vstp_sim::DEFAULT_TIME_SCALE);
    let (outcome, junit) = run_one(&sim, with_body(drains_through_a_budget_of_one));
    assert_eq!(outcome, Outcome::Passed, "{junit}");
}

/// A budget that allows no disruption: the drain fails at its budget naming the pod and the
/// PodDisruptionBudget that refused it.
fn drains_against_a_budget_of_none(
    ctx: Ctx,
) -> futures::future::BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let node = usable::select(scope.client()).await?.names().remove(0);
        web_on(&scope, &node, 1, json!({"minAvailable": 1})).await?;
        drain::drain(&scope, &node, Duration::from_secs(3)).await?;
        Ok(())
    })
}

#[test]
fn a_drain_blocked_by_a_budget_fails_naming_the_pod_and_the_budget() {
    let sim = cluster("drain-pdb-none", vstp_sim::DEFAULT_TIME_SCALE);
    let (outcome, junit) = run_one(&sim, with_body(drains_against_a_budget_of_none));
    let Outcome::Failed(message) = outcome else {
        panic!("the drain should fail: {outcome:?}\n{junit}");
    };
    let junit = format!("{message}\n{junit}");
    assert!(junit.contains("pods not evicted"), "{junit}");
    assert!(junit.contains("/web-"), "the pod is named: {junit}");
    assert!(
        junit.contains("blocked by PodDisruptionBudget vstp-")
            && junit.contains("/web: ")
            && junit.contains("needs 1 healthy pods and has 1"),
        "the budget is named: {junit}"
    );
}

//! Draining a node as `oc adm drain --ignore-daemonsets --delete-emptydir-data` does
//! (k8s.io/kubectl pkg/drain): cordon, pick the pods to evict (`GetPodsForDeletion` with the
//! filters of filters.go), evict them all at once, each one asked again while the API answers
//! 429, and wait until each is gone. A budget still refusing at the end names the pod and the
//! PodDisruptionBudget that blocked it. Uncordoning waits until KubeVirt is Available again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, EvictParams, ListParams};
use serde_json::Value;

use super::kinds::{self, to_value};
use super::retry::retrying;
use super::scope::Scope;
use super::usable::{self, NodeSelection};
use super::wait::Watch;

/// kubectl's `EvictErrorRetryDelay` (5 s): how long a refused eviction waits before asking again.
const RETRY_DELAY: Duration = Duration::from_secs(5);

/// What a drain moved.
#[derive(Debug, Default)]
pub struct Drained {
    pub node: String,
    /// virt-launcher pods evicted (the VMs the drain live-migrates), `ns/name`.
    pub launchers: Vec<String>,
    /// Every other pod evicted (moved by its controller, not a subject of the STP's checks).
    pub others: Vec<String>,
    /// DaemonSet pods left on the node.
    pub daemons: Vec<String>,
}

/// Cordons `node` (remembered in `scope` for teardown) and evicts what a drain evicts, within
/// `budget` for the whole drain (kubectl `--timeout`).
/// The node must be one the harness uses, and another usable node must take what it moves.
pub async fn drain(scope: &Scope, node: &str, budget: Duration) -> anyhow::Result<Drained> {
    drainable(scope.client(), node).await?;
    super::nodes::cordon(scope, node).await?;
    let client = scope.client();
    let pods = kinds::POD.all(client);
    let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let listed = retrying(|| pods.list(&params)).await?;
    let (evict, mut drained) = for_deletion(listed.items.iter().map(to_value).collect())?;
    drained.node = node.to_string();
    let refusals = Refusals::default();
    let delay = scope.budgets.window(RETRY_DELAY);
    let all = futures::future::join_all(
        evict
            .iter()
            .map(|pod| evict_and_wait(client, pod, delay, budget, &refusals)),
    );
    for pod in &evict {
        refusals.pending(pod);
    }
    let Ok(results) = tokio::time::timeout(budget, all).await else {
        return Err(refusals.timed_out(client, node, budget).await);
    };
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect();
    anyhow::ensure!(
        failures.is_empty(),
        "draining {node} failed:\n  {}",
        failures.join("\n  ")
    );
    Ok(drained)
}

/// kubectl pkg/drain drain.go `GetPodsForDeletion` with `makeFilters` (filters.go): mirror pods
/// and DaemonSet pods stay (`mirrorPodFilter`, `daemonSetFilter` with `--ignore-daemonsets`),
/// emptyDir data goes (`localStorageFilter` with `--delete-emptydir-data`), a pod no
/// controller would bring back refuses the whole drain (`unreplicatedFilter` without `--force`).
fn for_deletion(pods: Vec<Value>) -> anyhow::Result<(Vec<Value>, Drained)> {
    let mut drained = Drained::default();
    let mut evict = Vec::new();
    let mut unreplicated = Vec::new();
    for pod in pods {
        let id = pod_id(&pod);
        let controller = pod["metadata"]["ownerReferences"]
            .as_array()
            .and_then(|refs| refs.iter().find(|r| r["controller"] == true))
            .map(|r| r["kind"].as_str().unwrap_or("").to_string());
        let terminal = matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        );
        if pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string() {
            continue;
        }
        match controller.as_deref() {
            Some("DaemonSet") => drained.daemons.push(id),
            None if !terminal => unreplicated.push(id),
            _ => {
                if pod["metadata"]["labels"]["kubevirt.io"] == "virt-launcher" {
                    drained.launchers.push(id);
                } else {
                    drained.others.push(id);
                }
                evict.push(pod);
            }
        }
    }
    anyhow::ensure!(
        unreplicated.is_empty(),
        "cannot delete Pods that declare no controller: {} (kubectl drain refuses them without \
         --force; give them a controller or delete them first)",
        unreplicated.join(", ")
    );
    Ok((evict, drained))
}

fn pod_id(pod: &Value) -> String {
    format!(
        "{}/{}",
        pod["metadata"]["namespace"].as_str().unwrap_or(""),
        pod["metadata"]["name"].as_str().unwrap_or("")
    )
}

/// The pods not yet evicted and gone, by `ns/name`, with the last refusal the API gave each.
#[derive(Default, Clone)]
struct Refusals(Arc<Mutex<Left>>);

/// Each pod left (by `ns/name`): the pod as listed, and its last refusal.
type Left = BTreeMap<String, (Value, Option<String>)>;

impl Refusals {
    fn pending(&self, pod: &Value) {
        self.lock().insert(pod_id(pod), (pod.clone(), None));
    }

    fn refused(&self, pod: &str, why: String) {
        if let Some(entry) = self.lock().get_mut(pod) {
            entry.1 = Some(why);
        }
    }

    fn done(&self, pod: &str) {
        self.lock().remove(pod);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Left> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The drain's budget ran out: which pods were left, and what held each back (the API's
    /// last refusal; else, for a pod whose eviction was still in flight, the budgets covering
    /// it).
    async fn timed_out(
        &self,
        client: &kube::Client,
        node: &str,
        budget: Duration,
    ) -> anyhow::Error {
        let left: Vec<(String, Value, Option<String>)> = self
            .lock()
            .iter()
            .map(|(id, (pod, why))| (id.clone(), pod.clone(), why.clone()))
            .collect();
        let mut lines = Vec::new();
        for (id, pod, why) in left {
            let why = match why {
                Some(why) => why,
                None => budgets_covering(client, &pod).await,
            };
            lines.push(format!("pod {id}: {why}"));
        }
        anyhow::anyhow!(
            "node {node} was not drained within {budget:?}; pods not evicted:\n  {}",
            lines.join("\n  ")
        )
    }
}

/// The PodDisruptionBudgets whose selector selects `pod`, with the counts that refuse or allow
/// its eviction (as eviction.go `getPodDisruptionBudgets` finds them).
async fn budgets_covering(client: &kube::Client, pod: &Value) -> String {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let api = kinds::PDB.api(client, ns);
    let params = ListParams::default();
    let Ok(listed) = retrying(|| api.list(&params)).await else {
        return "still being evicted (its namespace's disruption budgets could not be read)".into();
    };
    let covering: Vec<String> = listed
        .items
        .iter()
        .map(to_value)
        .filter(|pdb| selects(&pdb["spec"]["selector"], &pod["metadata"]["labels"]))
        .map(|pdb| {
            let s = &pdb["status"];
            format!(
                "blocked by PodDisruptionBudget {ns}/{}: disruptionsAllowed {}, needs {} healthy pods and has {}",
                pdb["metadata"]["name"].as_str().unwrap_or(""),
                s["disruptionsAllowed"], s["desiredHealthy"], s["currentHealthy"]
            )
        })
        .collect();
    if covering.is_empty() {
        return "still being evicted or terminating (no disruption budget covers it)".into();
    }
    covering.join("; ")
}

/// A label selector (matchLabels and matchExpressions) against `labels`; an empty selector
/// selects nothing, as for disruption budgets.
fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels[k].as_str();
    let exprs = selector["matchExpressions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let match_labels = selector["matchLabels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if exprs.is_empty() && match_labels.is_empty() {
        return false;
    }
    match_labels.iter().all(|(k, v)| label(k) == v.as_str())
        && exprs.iter().all(|e| {
            let key = e["key"].as_str().unwrap_or("");
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str().unwrap_or("") {
                "In" => label(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            }
        })
}

/// One pod as kubectl's `evictPods` goroutine handles it: evict; on 429 wait and ask again
/// (with the pod read afresh); then wait until the pod is gone or replaced by a new UID
/// (`waitForDelete`).
async fn evict_and_wait(
    client: &kube::Client,
    pod: &Value,
    delay: Duration,
    budget: Duration,
    refusals: &Refusals,
) -> anyhow::Result<()> {
    let (ns, name) = (
        pod["metadata"]["namespace"].as_str().unwrap_or("default"),
        pod["metadata"]["name"].as_str().unwrap_or(""),
    );
    let id = pod_id(pod);
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    loop {
        match api.evict(name, &EvictParams::default()).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 404 => {
                refusals.done(&id);
                return Ok(());
            }
            Err(kube::Error::Api(s)) if s.code == 429 => {
                refusals.refused(&id, refusal(ns, &s));
                tokio::time::sleep(delay).await;
            }
            Err(e) if super::retry::transient(&e) => tokio::time::sleep(delay).await,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("error when evicting pods/{name:?} -n {ns:?}"))
            }
        }
    }
    let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_string();
    Watch::object(client, kinds::POD, ns, name)
        .until(&format!("evicted pod {id} to be gone"), budget, |seen| {
            seen.values()
                .all(|p| p["metadata"]["uid"] != uid.as_str())
                .then_some(())
        })
        .await?;
    refusals.done(&id);
    Ok(())
}

/// A 429 in words: the API's message, and the PodDisruptionBudget its `DisruptionBudget`
/// cause names (eviction.go `checkAndDecrement`: "The disruption budget NAME needs …").
fn refusal(ns: &str, status: &kube::core::Status) -> String {
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or_default();
    let budget = causes.iter().find(|c| c.reason == "DisruptionBudget");
    match budget {
        Some(cause) => {
            let pdb = cause
                .message
                .strip_prefix("The disruption budget ")
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or("?");
            format!(
                "blocked by PodDisruptionBudget {ns}/{pdb}: {} ({})",
                cause.message, status.message
            )
        }
        None => format!("refused: {}", status.message),
    }
}

/// Uncordons `node` and waits until KubeVirt is Available again: the KubeVirt CR's Available
/// condition True with Progressing and Degraded False (kubevirt pkg/virt-operator/util/
/// conditions.go `UpdateConditionsAvailable`, which virt-operator writes once every component,
/// virt-handler's DaemonSet included, is ready again).
pub async fn uncordon_and_settle(scope: &Scope, node: &str) -> anyhow::Result<()> {
    super::cordon::uncordon(scope.client(), node).await?;
    let budget = scope.budgets.of(super::Wait::Reaction);
    let (kubevirts, params) = (kinds::KUBEVIRT.all(scope.client()), ListParams::default());
    let listed = retrying(|| kubevirts.list(&params)).await?;
    let kubevirt =
        listed.items.first().map(to_value).context(
            "no KubeVirt CR found in any namespace: is OpenShift Virtualization installed?",
        )?;
    let (ns, name) = (
        kubevirt["metadata"]["namespace"].as_str().unwrap_or(""),
        kubevirt["metadata"]["name"].as_str().unwrap_or(""),
    );
    Watch::object(scope.client(), kinds::KUBEVIRT, ns, name)
        .until_object(
            "KubeVirt Available, not Progressing, not Degraded",
            budget,
            kubevirt_available,
        )
        .await?;
    Ok(())
}

fn kubevirt_available(kv: &Value) -> bool {
    let status = |ty: &str| super::wait::condition::status_of(kv, ty).unwrap_or("");
    status("Available") == "True"
        && status("Progressing") == "False"
        && status("Degraded") == "False"
}

/// A drain is for a usable node, and needs another usable node for what it moves.
async fn drainable(client: &kube::Client, node: &str) -> anyhow::Result<()> {
    let selection = usable::select(client).await?;
    if let Some(excluded) = selection.excluded.iter().find(|e| e.name == node) {
        let why: Vec<String> = excluded.why.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "node {node} is not one the harness uses: {}",
            why.join(", ")
        );
    }
    let others = NodeSelection {
        usable: selection
            .usable
            .iter()
            .filter(|n| n.name != node)
            .cloned()
            .collect(),
        excluded: selection.excluded.clone(),
    };
    others.at_least(1, &format!("draining node {node}"))?;
    Ok(())
}

//! The disruption controller: each PodDisruptionBudget's status (expected, healthy and
//! desired pods, the disruptions allowed), which the eviction API reads and decrements.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::pods::{controller_of, pod_ready};
use super::replicaset;
use crate::controllers::Ctx;
use crate::kinds;
use crate::obj;

/// pkg/controller/disruption/disruption.go `DeletionTimeout`: how long an eviction the API
/// granted may take to delete its pod before the controller counts the pod again.
const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

pub fn reconcile_namespace(ctx: &Arc<Ctx>, ns: &str) {
    for pdb in ctx.list(kinds::PDBS, Some(ns)) {
        reconcile(ctx, ns, obj::name(&pdb));
    }
}

/// The pods a budget covers (`getPodsForPdb`): same namespace, selected by a non-empty selector.
pub fn covered(pdb: &Value, pod: &Value) -> bool {
    let selector = &pdb["spec"]["selector"];
    let empty = selector["matchLabels"]
        .as_object()
        .is_none_or(Map::is_empty)
        && selector["matchExpressions"]
            .as_array()
            .is_none_or(Vec::is_empty);
    obj::namespace(pdb) == obj::namespace(pod)
        && !empty
        && obj::label_selector_matches(selector, &obj::labels(pod))
}

/// pkg/controller/disruption/disruption.go `trySync`: `getExpectedPodCount`,
/// `buildDisruptedPodMap`, `countHealthyPods`, then `updatePdbStatus`.
pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(pdb) = ctx.get(kinds::PDBS, ns, name) else {
        return;
    };
    let pods: Vec<Arc<Value>> = ctx
        .list(kinds::PODS, Some(ns))
        .into_iter()
        .filter(|p| covered(&pdb, p))
        .collect();
    let (expected, desired) = expected_and_desired(ctx, &pdb, &pods);
    let (disrupted, recheck) = disrupted_pods(ctx, &pdb, &pods);
    let healthy = pods
        .iter()
        .filter(|p| !obj::deleting(p) && !disrupted.contains_key(obj::name(p)) && pod_ready(p))
        .count() as i64;
    let allowed = (healthy - desired).max(0);
    let (generation, now) = (pdb["metadata"]["generation"].clone(), ctx.now());
    ctx.write_same(kinds::PDBS, &pdb, |pdb| {
        let s = &mut pdb["status"];
        s["observedGeneration"] = generation;
        s["expectedPods"] = json!(expected);
        s["currentHealthy"] = json!(healthy);
        s["desiredHealthy"] = json!(desired);
        s["disruptionsAllowed"] = json!(allowed);
        s["disruptedPods"] = json!(disrupted);
        allowed_condition(pdb, &now);
    });
    if let Some(after) = recheck {
        let (ctx, ns, name) = (ctx.clone(), ns.to_string(), name.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            reconcile(&ctx, &ns, &name);
        });
    }
}

/// component-helpers apps/poddisruptionbudget `UpdateDisruptionAllowedCondition`.
pub fn allowed_condition(pdb: &mut Value, now: &str) {
    if pdb["status"]["disruptionsAllowed"].as_i64().unwrap_or(0) > 0 {
        obj::set_condition(pdb, "DisruptionAllowed", true, "SufficientPods", "", now);
    } else {
        obj::set_condition(pdb, "DisruptionAllowed", false, "InsufficientPods", "", now);
    }
}

/// `getExpectedPodCount`: an integer minAvailable counts the pods found; maxUnavailable or a
/// percentage counts the replicas their controllers want (`getExpectedScale`).
fn expected_and_desired(ctx: &Ctx, pdb: &Value, pods: &[Arc<Value>]) -> (i64, i64) {
    let spec = &pdb["spec"];
    if let Some(min) = spec["minAvailable"].as_i64() {
        return (pods.len() as i64, min);
    }
    let expected = expected_scale(ctx, pods);
    if let Some(max) = spec.get("maxUnavailable").filter(|v| !v.is_null()) {
        return (expected, (expected - scaled(max, expected)).max(0));
    }
    (expected, scaled(&spec["minAvailable"], expected))
}

/// An int-or-percent against `total`, a percentage rounded up (apimachinery intstr
/// `GetScaledValueFromIntOrPercent(…, true)`, as `getExpectedPodCount` calls it).
fn scaled(value: &Value, total: i64) -> i64 {
    if let Some(n) = value.as_i64() {
        return n;
    }
    let percent: f64 = obj::str_at(value, "")
        .trim_end_matches('%')
        .parse()
        .unwrap_or(0.0);
    (percent * total as f64 / 100.0).ceil() as i64
}

/// The sum of the scales of the pods' controllers, each counted once (a ReplicaSet of a
/// Deployment counts as the Deployment, `getPodReplicaSet` then `getPodDeployment`).
fn expected_scale(ctx: &Ctx, pods: &[Arc<Value>]) -> i64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    for pod in pods {
        let Some(("ReplicaSet", rs_name, _)) = controller_of(pod) else {
            continue;
        };
        let Some(rs) = ctx.get(kinds::REPLICASETS, obj::namespace(pod), rs_name) else {
            continue;
        };
        let scale = match controller_of(&rs) {
            Some(("Deployment", d, _)) => ctx
                .get(kinds::DEPLOYMENTS, obj::namespace(pod), d)
                .map(|d| (obj::uid(&d).to_string(), replicaset::replicas(&d))),
            _ => Some((obj::uid(&rs).to_string(), replicaset::replicas(&rs))),
        };
        if let Some((uid, n)) = scale.filter(|(uid, _)| !seen.contains(uid)) {
            seen.insert(uid);
            total += n;
        }
    }
    total
}

/// `buildDisruptedPodMap`: evictions the API granted whose pod still exists and is not being
/// deleted, within the deletion timeout; and when the oldest one expires.
fn disrupted_pods(
    ctx: &Ctx,
    pdb: &Value,
    pods: &[Arc<Value>],
) -> (Map<String, Value>, Option<Duration>) {
    let mut kept = Map::new();
    let mut recheck: Option<Duration> = None;
    let timeout = ctx.store.clock().real(DELETION_TIMEOUT);
    let now = ctx.store.clock().now();
    for pod in pods.iter().filter(|p| !obj::deleting(p)) {
        let at = &pdb["status"]["disruptedPods"][obj::name(pod)];
        let Some(when) = at.as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok()) else {
            continue;
        };
        let age = (now - when).to_std().unwrap_or_default();
        if age < timeout {
            kept.insert(obj::name(pod).to_string(), at.clone());
            let left = timeout - age;
            recheck = Some(recheck.map_or(left, |r| r.min(left)));
        }
    }
    (kept, recheck)
}

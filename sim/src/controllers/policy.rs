//! MigrationPolicy matching and the resolved migration configuration of a VMI.

use serde_json::Value;

use crate::kinds;
use crate::obj;
use crate::store::{Selectors, Store};

/// The policy that applies to `vmi`: kubevirt v1.9.0 pkg/virt-controller/watch/migration/
/// migrationpolicy.go matchPolicy, the highest countMatchingLabels score (most matched labels,
/// then most VMI-label matches), then the smallest name.
pub fn matching(store: &Store, vmi: &Value) -> Option<Value> {
    let (policies, _) = store.list(kinds::MIGRATION_POLICIES, None, &Selectors::default());
    let vmi_labels = vmi["metadata"]["labels"].as_object();
    let ns = store.get(kinds::NAMESPACES, "", obj::namespace(vmi));
    let ns_labels = ns
        .as_ref()
        .and_then(|n| n["metadata"]["labels"].as_object());
    type Score = (usize, usize, std::cmp::Reverse<String>);
    let mut best: Option<(Score, Value)> = None;
    for p in &policies {
        let Some((vmi_matched, ns_matched)) = score(p, vmi_labels, ns_labels) else {
            continue;
        };
        let score = (
            vmi_matched + ns_matched,
            vmi_matched,
            std::cmp::Reverse(obj::name(p).to_string()),
        );
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, (**p).clone()));
        }
    }
    best.map(|(_, p)| p)
}

type Labels<'a> = Option<&'a serde_json::Map<String, Value>>;

/// migrationpolicy.go countMatchingLabels: a policy without `selectors` matches nothing;
/// every label of a selector must match (a selector is skipped when it or the VMI's labels are
/// absent, the namespace selector too: upstream tests the VMI's labels for both); the matched
/// (VMI, namespace) label counts.
fn score(policy: &Value, vmi: Labels, ns: Labels) -> Option<(usize, usize)> {
    let selectors = policy["spec"]["selectors"].as_object()?;
    let count = |selector: &Value, labels: Labels| -> Option<usize> {
        let (Some(selector), Some(_)) = (selector.as_object(), vmi) else {
            return Some(0);
        };
        let all = selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        all.then_some(selector.len())
    };
    let selector = |key: &str| selectors.get(key).unwrap_or(&Value::Null);
    let vmi_matched = count(selector("virtualMachineInstanceSelector"), vmi)?;
    let ns_matched = count(selector("namespaceSelector"), ns)?;
    Some((vmi_matched, ns_matched))
}

/// The cluster's migration configuration overridden by the policy's fields, as
/// `migrationState.migrationConfiguration` shows it (migrationpolicy.go
/// applyMigrationPolicySpec).
pub fn resolve(cluster: &Value, policy: Option<&Value>) -> Value {
    let mut config = cluster.clone();
    if let Some(spec) = policy.map(|p| &p["spec"]) {
        for key in [
            "allowAutoConverge",
            "allowPostCopy",
            "allowWorkloadDisruption",
            "bandwidthPerMigration",
            "completionTimeoutPerGiB",
            "maxDowntimeMs",
        ] {
            if !spec[key].is_null() {
                config[key] = spec[key].clone();
            }
        }
        if spec["allowWorkloadDisruption"].is_null() && !spec["allowPostCopy"].is_null() {
            config["allowWorkloadDisruption"] = spec["allowPostCopy"].clone();
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_fields_override_and_post_copy_implies_disruption() {
        let cluster = json!({"allowPostCopy": false, "allowWorkloadDisruption": false, "bandwidthPerMigration": "0Mi", "completionTimeoutPerGiB": 150});
        let policy = json!({"spec": {"allowPostCopy": true, "bandwidthPerMigration": "5Mi"}});
        let r = resolve(&cluster, Some(&policy));
        assert_eq!(r["allowPostCopy"], true);
        assert_eq!(r["allowWorkloadDisruption"], true);
        assert_eq!(r["bandwidthPerMigration"], "5Mi");
        assert_eq!(r["completionTimeoutPerGiB"], 150);
        assert_eq!(resolve(&cluster, None), cluster);
        let downtime = json!({"spec": {"maxDowntimeMs": 2000}});
        assert_eq!(resolve(&cluster, Some(&downtime))["maxDowntimeMs"], 2000);
    }

    fn policy(selectors: Option<Value>) -> Value {
        match selectors {
            Some(s) => json!({"spec": {"selectors": s}}),
            None => json!({"spec": {}}),
        }
    }

    #[test]
    fn a_policy_without_selectors_matches_nothing_and_empty_selectors_match_everything() {
        let vmi = json!({"app": "vm1"});
        let ns = json!({"team": "a"});
        let (v, n) = (vmi.as_object(), ns.as_object());
        assert_eq!(score(&policy(None), v, n), None);
        assert_eq!(score(&policy(Some(json!({}))), v, n), Some((0, 0)));
        let both = json!({"virtualMachineInstanceSelector": {"app": "vm1"}, "namespaceSelector": {"team": "a"}});
        assert_eq!(score(&policy(Some(both)), v, n), Some((1, 1)));
        let other = json!({"virtualMachineInstanceSelector": {"app": "vm2"}});
        assert_eq!(score(&policy(Some(other)), v, n), None);
    }
}

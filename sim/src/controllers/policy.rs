//! MigrationPolicy matching and the resolved migration configuration of a VMI.

use serde_json::Value;

use crate::kinds;
use crate::obj;
use crate::store::{Selectors, Store};

/// The policy that applies to `vmi`: every selector label must match; the most matched
/// labels win, then the most VMI-label matches, then the smallest name.
pub fn matching(store: &Store, vmi: &Value) -> Option<Value> {
    let (policies, _) = store.list(kinds::MIGRATION_POLICIES, None, &Selectors::default());
    let vmi_labels = obj::labels(vmi);
    let ns_labels = store
        .get(kinds::NAMESPACES, "", obj::namespace(vmi))
        .map(|n| obj::labels(&n))
        .unwrap_or_default();
    type Score = (usize, usize, std::cmp::Reverse<String>);
    let mut best: Option<(Score, Value)> = None;
    for p in &policies {
        let sel = &p["spec"]["selectors"];
        let vmi_sel = sel["virtualMachineInstanceSelector"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let ns_sel = sel["namespaceSelector"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let all = vmi_sel.iter().all(|(k, v)| vmi_labels.get(k) == Some(v))
            && ns_sel.iter().all(|(k, v)| ns_labels.get(k) == Some(v));
        if !all {
            continue;
        }
        let score = (
            vmi_sel.len() + ns_sel.len(),
            vmi_sel.len(),
            std::cmp::Reverse(obj::name(p).to_string()),
        );
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, (**p).clone()));
        }
    }
    best.map(|(_, p)| p)
}

/// The cluster's migration configuration overridden by the policy's fields, as
/// `migrationState.migrationConfiguration` shows it.
pub fn resolve(cluster: &Value, policy: Option<&Value>) -> Value {
    let mut config = cluster.clone();
    if let Some(spec) = policy.map(|p| &p["spec"]) {
        for key in [
            "allowAutoConverge",
            "allowPostCopy",
            "allowWorkloadDisruption",
            "bandwidthPerMigration",
            "completionTimeoutPerGiB",
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
    }
}

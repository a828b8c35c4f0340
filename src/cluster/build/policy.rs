//! MigrationPolicies from named options.

use std::collections::BTreeMap;

use serde_json::{json, Value};

#[derive(Debug, Clone, Default)]
pub struct MigrationPolicy {
    pub name: String,
    pub allow_workload_disruption: Option<bool>,
    pub allow_post_copy: Option<bool>,
    /// A Kubernetes quantity, e.g. "1Mi" per second.
    pub bandwidth_per_migration: Option<String>,
    pub completion_timeout_per_gib: Option<u64>,
    /// Labels a VMI must carry to be selected.
    pub vmi_selector: BTreeMap<String, String>,
    /// Labels the VMI's namespace must carry.
    pub namespace_selector: BTreeMap<String, String>,
}

impl MigrationPolicy {
    pub fn named(name: &str) -> MigrationPolicy {
        MigrationPolicy {
            name: name.into(),
            ..Default::default()
        }
    }

    /// AllowWorkloadDisruption, with post-copy on or off (off = pause the guest to finish).
    pub fn workload_disruption(mut self, post_copy: bool) -> MigrationPolicy {
        self.allow_workload_disruption = Some(true);
        self.allow_post_copy = Some(post_copy);
        self
    }

    /// A bandwidth cap and a tight completion timeout, so a busy guest cannot converge.
    pub fn throttled(mut self, bandwidth: &str, seconds_per_gib: u64) -> MigrationPolicy {
        self.bandwidth_per_migration = Some(bandwidth.into());
        self.completion_timeout_per_gib = Some(seconds_per_gib);
        self
    }

    pub fn selecting_vmis(mut self, key: &str, value: &str) -> MigrationPolicy {
        self.vmi_selector.insert(key.into(), value.into());
        self
    }

    pub fn selecting_namespaces(mut self, key: &str, value: &str) -> MigrationPolicy {
        self.namespace_selector.insert(key.into(), value.into());
        self
    }

    pub fn build(&self) -> Value {
        let mut policy = super::bases::migration_policy(&self.name);
        let spec = &mut policy["spec"];
        let fields = [
            (
                "allowWorkloadDisruption",
                self.allow_workload_disruption.map(Value::from),
            ),
            ("allowPostCopy", self.allow_post_copy.map(Value::from)),
            (
                "bandwidthPerMigration",
                self.bandwidth_per_migration.clone().map(Value::from),
            ),
            (
                "completionTimeoutPerGiB",
                self.completion_timeout_per_gib.map(Value::from),
            ),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                spec[key] = value;
            }
        }
        if !self.vmi_selector.is_empty() {
            spec["selectors"]["virtualMachineInstanceSelector"] = json!(self.vmi_selector);
        }
        if !self.namespace_selector.is_empty() {
            spec["selectors"]["namespaceSelector"] = json!(self.namespace_selector);
        }
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_mode_policy_disallows_post_copy_and_selects_by_labels() {
        let p = MigrationPolicy::named("awd")
            .workload_disruption(false)
            .throttled("1Mi", 1)
            .selecting_vmis("vstp.io/vm", "vm-a")
            .selecting_namespaces("vstp.io/scenario", "rhel-paused")
            .build();
        let spec = &p["spec"];
        assert_eq!(spec["allowWorkloadDisruption"], true);
        assert_eq!(spec["allowPostCopy"], false);
        assert_eq!(spec["bandwidthPerMigration"], "1Mi");
        assert_eq!(spec["completionTimeoutPerGiB"], 1);
        assert_eq!(
            spec["selectors"]["virtualMachineInstanceSelector"]["vstp.io/vm"],
            "vm-a"
        );
        assert_eq!(
            spec["selectors"]["namespaceSelector"]["vstp.io/scenario"],
            "rhel-paused"
        );
    }
}

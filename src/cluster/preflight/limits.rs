//! What bounds how many scenarios may share a cluster: its usable workers and how many live
//! migrations KubeVirt lets run at once.

use serde_json::Value;

/// KubeVirt's defaults when the CR sets no limit (kubevirt v1.9.0 pkg/virt-config/
/// virt-config.go ParallelMigrationsPerClusterDefault, ParallelOutboundMigrationsPerNodeDefault).
const MIGRATIONS_PER_CLUSTER: usize = 5;
const OUTBOUND_MIGRATIONS_PER_NODE: usize = 2;

/// The cluster's facts the default parallelism is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterLimits {
    pub usable_workers: usize,
    /// `spec.configuration.migrations.parallelMigrationsPerCluster`: migrations beyond it wait.
    pub migrations_per_cluster: usize,
    /// `…parallelOutboundMigrationsPerNode`: migrations from one node beyond it wait.
    pub outbound_migrations_per_node: usize,
}

impl Default for ClusterLimits {
    fn default() -> Self {
        ClusterLimits {
            usable_workers: 0,
            migrations_per_cluster: MIGRATIONS_PER_CLUSTER,
            outbound_migrations_per_node: OUTBOUND_MIGRATIONS_PER_NODE,
        }
    }
}

impl ClusterLimits {
    /// From the KubeVirt CR (the defaults where it sets nothing or could not be read) and the
    /// number of usable workers. The controller reads these fields as the CR has them
    /// (kubevirt pkg/virt-controller/watch/migration/migration.go handleTargetPodCreation).
    pub fn of(cr: Option<&Value>, usable_workers: usize) -> ClusterLimits {
        let migrations = cr.map_or(&Value::Null, |cr| {
            &cr["spec"]["configuration"]["migrations"]
        });
        let limit = |field: &str, default: usize| {
            migrations[field]
                .as_u64()
                .map_or(default, |n| usize::try_from(n).unwrap_or(default))
        };
        ClusterLimits {
            usable_workers,
            migrations_per_cluster: limit("parallelMigrationsPerCluster", MIGRATIONS_PER_CLUSTER),
            outbound_migrations_per_node: limit(
                "parallelOutboundMigrationsPerNode",
                OUTBOUND_MIGRATIONS_PER_NODE,
            ),
        }
    }

    /// Live migrations the cluster runs at once: the cluster-wide limit, or the per-node one
    /// times the workers when that is lower.
    pub fn concurrent_migrations(&self) -> usize {
        self.migrations_per_cluster
            .min(self.outbound_migrations_per_node * self.usable_workers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cr_limits_win_over_kubevirts_defaults() {
        let cr = json!({"spec": {"configuration": {"migrations": {
            "parallelMigrationsPerCluster": 10, "parallelOutboundMigrationsPerNode": 1}}}});
        let set = ClusterLimits::of(Some(&cr), 3);
        assert_eq!(
            (set.migrations_per_cluster, set.outbound_migrations_per_node),
            (10, 1)
        );
        assert_eq!(set.concurrent_migrations(), 3);
        let unset = ClusterLimits::of(Some(&json!({"spec": {}})), 3);
        assert_eq!(unset.concurrent_migrations(), 5);
        assert_eq!(ClusterLimits::of(None, 2).concurrent_migrations(), 4);
    }
}

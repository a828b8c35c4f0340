//! How many scenarios run at once when the user does not say.
//!
//! On a cluster: as many as can overlap at all, but no more than the live migrations KubeVirt
//! runs at once. A drain runs alone and scenarios that change node networking run one at a
//! time (trial.rs `Turn`), so at most the ordinary scenarios plus one node-networking scenario
//! overlap. Every scenario has at most one migration in flight, and KubeVirt starts at most
//! `parallelMigrationsPerCluster` migrations, and `parallelOutboundMigrationsPerNode` from each
//! node; a scenario beyond those would wait for another scenario's migration inside its own
//! migration budget. A three-worker cluster with KubeVirt's defaults (5, 2) takes
//! min(5, 2 × 3) = 5.

use crate::cluster::preflight::ClusterLimits;
use crate::plan::Declaration;

/// Scenarios at once on a cluster with `limits`, for a run of the scenarios declared `runnable`
/// (those with a body).
pub fn cluster_threads(limits: &ClusterLimits, runnable: &[Declaration]) -> usize {
    let (mut ordinary, mut node_networking) = (0, 0);
    for decl in runnable {
        match (decl.disruptive, decl.node_networking) {
            (false, _) => ordinary += 1,
            (true, true) => node_networking += 1,
            (true, false) => {}
        }
    }
    let overlapping = ordinary + node_networking.min(1);
    overlapping.min(limits.concurrent_migrations()).max(1)
}

/// On the simulator: twice the cores and at least four (a scenario spends most of its time
/// waiting for the simulated cluster); with real guests, as many as the qemu processes allow
/// (guest_lane.rs). Settings that cannot be read leave the emulated default: the run's
/// connection reports them.
pub fn sim_threads(target: &crate::cluster::target::TargetOptions) -> usize {
    let settings = crate::cluster::settings::load(target.settings.as_deref());
    let lane = settings.map(|s| target.guest_lane(&s)).unwrap_or_default();
    if lane.guests == crate::cluster::guest_lane::Guests::Qemu {
        return lane.scenarios_at_once();
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cores).max(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::row;

    fn three_workers() -> ClusterLimits {
        ClusterLimits {
            usable_workers: 3,
            ..ClusterLimits::default()
        }
    }

    #[test]
    fn a_three_worker_cluster_runs_as_many_as_kubevirt_migrates_at_once() {
        let many: Vec<_> = (0..12).map(|i| row("x.md", i, "ordinary")).collect();
        assert_eq!(cluster_threads(&three_workers(), &many), 5);
        let two_workers = ClusterLimits {
            usable_workers: 2,
            ..ClusterLimits::default()
        };
        assert_eq!(cluster_threads(&two_workers, &many), 4);
    }

    #[test]
    fn drains_never_overlap_and_node_networking_counts_once() {
        let disruptive = [
            row("x.md", 1, "drain").disruptive(),
            row("x.md", 2, "bridge-a").changes_node_networking(),
            row("x.md", 3, "bridge-b").changes_node_networking(),
            row("x.md", 4, "ordinary"),
        ];
        assert_eq!(cluster_threads(&three_workers(), &disruptive), 2);
        let drain_only = [row("x.md", 1, "drain").disruptive()];
        assert_eq!(cluster_threads(&three_workers(), &drain_only), 1);
    }
}

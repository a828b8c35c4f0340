//! Named budgets for waits, from the target's timeout profile. On a real cluster they are
//! wall-clock durations; vstp-sim runs its modelled durations faster by its published time
//! scale, so the same budgets are divided by that scale (with a floor for the real overhead of
//! a busy CI machine).

use std::time::Duration;

use super::kinds;

/// What is being waited for; each has its real-cluster duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A VM from creation to a guest answering SSH.
    Boot,
    /// One live migration from VMIM creation to a final phase.
    Migration,
    /// A node network policy from creation to Available.
    NodeNetwork,
    /// Conditions and small status changes the controllers write promptly.
    Reaction,
    /// Emptying a node by eviction.
    Drain,
    /// Objects being deleted.
    Deletion,
}

impl Wait {
    pub fn on_a_cluster(self) -> Duration {
        let minutes = match self {
            Wait::Boot => 10.0,
            Wait::Migration => 10.0,
            Wait::NodeNetwork => 5.0,
            Wait::Reaction => 2.0,
            Wait::Drain => 15.0,
            Wait::Deletion => 5.0,
        };
        Duration::from_secs_f64(minutes * 60.0)
    }
}

/// The budgets of one target.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Modelled seconds per real second (1 on a cluster).
    pub scale: f64,
    /// Extra room on slow clusters (the "slow" timeout profile doubles every budget).
    pub slack: f64,
}

/// Real seconds a simulated wait may take whatever the scale: the API, SSH and the test's own
/// work are not scaled.
const SIM_FLOOR: Duration = Duration::from_secs(20);

impl Budgets {
    pub const CLUSTER: Budgets = Budgets {
        scale: 1.0,
        slack: 1.0,
    };

    /// The same budgets with every one multiplied by `slack`.
    pub fn with_slack(self, slack: f64) -> Budgets {
        Budgets { slack, ..self }
    }

    pub fn of(&self, wait: Wait) -> Duration {
        let real = wait.on_a_cluster().mul_f64(self.slack.max(1.0));
        if self.scale <= 1.0 {
            return real;
        }
        (real.div_f64(self.scale)).max(SIM_FLOOR)
    }

    /// A window of `real` time on a cluster, on the target's clock: how long a `holds_for`
    /// watches for something that must not happen. Unlike a budget it has no floor, since
    /// nothing of the harness's own work happens inside it.
    pub fn window(&self, real: Duration) -> Duration {
        real.div_f64(self.scale.max(1.0))
    }

    /// Reads the simulator's time scale (ConfigMap kube-system/vstp-sim, key timeScale).
    pub async fn of_sim(client: &kube::Client) -> anyhow::Result<Budgets> {
        let api = kinds::CONFIG_MAP.api(client, "kube-system");
        let map = super::retry::retrying(|| api.get("vstp-sim"))
            .await
            .map_err(|e| anyhow::anyhow!("the simulator does not publish its time scale (ConfigMap kube-system/vstp-sim): {e}"))?;
        let text = map.data["data"]["timeScale"].as_str().unwrap_or("");
        let scale: f64 = text
            .parse()
            .map_err(|_| anyhow::anyhow!("the simulator's timeScale {text:?} is not a number"))?;
        Ok(Budgets { scale, slack: 1.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_budgets_shrink_by_the_scale_but_not_below_the_floor() {
        let sim = Budgets {
            scale: 10.0,
            slack: 1.0,
        };
        assert_eq!(sim.of(Wait::Drain), Duration::from_secs(90));
        assert_eq!(sim.of(Wait::Reaction), SIM_FLOOR);
        assert_eq!(Budgets::CLUSTER.of(Wait::Boot), Duration::from_secs(600));
    }
}

//! Named budgets for waits, from the target's timeout profile. On a real cluster they are
//! wall-clock durations; vstp-sim runs its modelled durations faster by its published time
//! scale, so the same budgets are divided by that scale (with a floor for the real overhead of
//! a busy CI machine).
//!
//! A scenario's own budget is derived from its waits: every budget a scenario's scope hands out
//! is charged to the scenario's [`WaitLedger`], and the scenario may take the harness's own
//! allowance plus everything charged, so it is never cut short of the sum of its waits. The
//! `slow` profile's slack multiplies the waits and the allowance alike.

use std::sync::Mutex;
use std::time::Duration;

use super::kinds;
use crate::guest::os::GuestOs;

/// What is being waited for; each has its real-cluster duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// A RHEL VM from creation to a guest answering SSH.
    Boot,
    /// A Windows VM from creation to a guest answering SSH: first boot of a sysprepped image,
    /// its specialize pass and OpenSSH coming up take far longer than a cloud-init Linux.
    WindowsBoot,
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
    /// The boot of a guest of `os`.
    pub fn boot(os: GuestOs) -> Wait {
        match os {
            GuestOs::Rhel => Wait::Boot,
            GuestOs::Windows => Wait::WindowsBoot,
        }
    }

    pub fn on_a_cluster(self) -> Duration {
        let minutes = match self {
            Wait::Boot => 10.0,
            Wait::WindowsBoot => 30.0,
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

/// What a scenario may spend outside its waits on a cluster: guest commands (each bounded by
/// the profile's SSH timeout), API calls and captures between the waits.
const HARNESS_WORK: Duration = Duration::from_secs(10 * 60);

/// The same on the simulator, whatever the scale: that work is real SSH and API traffic.
const SIM_HARNESS_FLOOR: Duration = Duration::from_secs(120);

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
        self.scaled(wait.on_a_cluster(), SIM_FLOOR)
    }

    /// A scenario's allowance for its own work between waits (see [`HARNESS_WORK`]).
    pub fn harness_work(&self) -> Duration {
        self.scaled(HARNESS_WORK, SIM_HARNESS_FLOOR)
    }

    /// `real` cluster time with the slack, divided by the simulator's scale down to `floor`.
    fn scaled(&self, real: Duration, floor: Duration) -> Duration {
        let real = real.mul_f64(self.slack.max(1.0));
        if self.scale <= 1.0 {
            return real;
        }
        (real.div_f64(self.scale)).max(floor)
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

/// The waits one scenario was given budgets for, in order.
#[derive(Debug, Default)]
pub struct WaitLedger {
    charged: Mutex<Vec<(Wait, Duration)>>,
}

impl WaitLedger {
    pub fn charge(&self, wait: Wait, budget: Duration) {
        let mut charged = self.charged.lock().unwrap_or_else(|p| p.into_inner());
        charged.push((wait, budget));
    }

    /// The sum of the budgets charged so far.
    pub fn total(&self) -> Duration {
        let charged = self.charged.lock().unwrap_or_else(|p| p.into_inner());
        charged.iter().map(|(_, d)| *d).sum()
    }

    /// `Boot 600s, Migration 600s ×2`: what the scenario's budget was made of.
    pub fn describe(&self) -> String {
        let charged = self.charged.lock().unwrap_or_else(|p| p.into_inner());
        let mut counted: Vec<(Wait, Duration, usize)> = Vec::new();
        for (wait, budget) in charged.iter() {
            match counted
                .iter_mut()
                .find(|(w, d, _)| w == wait && d == budget)
            {
                Some(entry) => entry.2 += 1,
                None => counted.push((*wait, *budget, 1)),
            }
        }
        let each = counted.iter().map(|(wait, budget, n)| {
            let times = if *n > 1 {
                format!(" ×{n}")
            } else {
                String::new()
            };
            format!("{wait:?} {:.0}s{times}", budget.as_secs_f64())
        });
        each.collect::<Vec<_>>().join(", ")
    }
}

/// A scenario's budget: the harness's allowance plus every wait budget charged so far.
pub fn scenario_budget(budgets: &Budgets, ledger: &WaitLedger) -> Duration {
    budgets.harness_work() + ledger.total()
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

    #[test]
    fn windows_boots_in_up_to_30_minutes_scaled_like_the_other_waits() {
        assert_eq!(Wait::boot(GuestOs::Windows), Wait::WindowsBoot);
        let half_hour = Duration::from_secs(30 * 60);
        assert_eq!(Budgets::CLUSTER.of(Wait::WindowsBoot), half_hour);
        let sim = Budgets {
            scale: 60.0,
            slack: 1.0,
        };
        assert_eq!(sim.of(Wait::WindowsBoot), Duration::from_secs(30));
        assert_eq!(
            sim.of(Wait::Boot),
            SIM_FLOOR,
            "10 min / 60 is under the floor"
        );
        let slow = Budgets::CLUSTER.with_slack(2.0);
        assert_eq!(slow.of(Wait::WindowsBoot), 2 * half_hour);
    }

    /// The budgets a scenario that boots Windows and migrates twice is charged.
    fn charged(budgets: &Budgets) -> WaitLedger {
        let ledger = WaitLedger::default();
        for wait in [
            Wait::WindowsBoot,
            Wait::Migration,
            Wait::Migration,
            Wait::Reaction,
        ] {
            ledger.charge(wait, budgets.of(wait));
        }
        ledger
    }

    #[test]
    fn a_scenarios_budget_is_never_less_than_its_waits_and_slow_doubles_it() {
        let normal = Budgets::CLUSTER;
        let ledger = charged(&normal);
        let waits = Duration::from_secs((30 + 10 + 10 + 2) * 60);
        assert_eq!(ledger.total(), waits);
        assert!(scenario_budget(&normal, &ledger) >= waits);
        assert_eq!(
            ledger.describe(),
            "WindowsBoot 1800s, Migration 600s ×2, Reaction 120s"
        );
        let slow = normal.with_slack(2.0);
        let slow_budget = scenario_budget(&slow, &charged(&slow));
        assert_eq!(slow_budget, 2 * scenario_budget(&normal, &ledger));
        let sim = Budgets {
            scale: 60.0,
            slack: 1.0,
        };
        let on_sim = charged(&sim);
        assert_eq!(on_sim.total(), Duration::from_secs(30 + 20 + 20 + 20));
        assert!(scenario_budget(&sim, &on_sim) >= on_sim.total());
    }
}

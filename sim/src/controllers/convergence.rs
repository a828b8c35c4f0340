//! The convergence model of a live migration (libvirt precopy under KubeVirt's legacy
//! migration monitor): memory is copied at the migration bandwidth while the guest's
//! workloads re-dirty their working set. The outcome follows only from these inputs.

/// What a migration is made of.
#[derive(Debug, Clone, Copy)]
pub struct Inputs {
    pub memory_bytes: f64,
    /// min(bandwidthPerMigration, link speed), bytes/s.
    pub bandwidth: f64,
    /// Rate (bytes/s) and working set (bytes) of the memory the guest keeps dirtying.
    pub dirty_rate: f64,
    pub working_set: f64,
    pub max_downtime_s: f64,
    pub completion_timeout_per_gib: f64,
    pub progress_timeout_s: f64,
    pub allow_workload_disruption: bool,
    pub allow_post_copy: bool,
}

/// How it ends, in modelled seconds from the start of the transfer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Precopy converged: done at `done`.
    PreCopy {
        done: f64,
    },
    /// Switched to post-copy (or paused the guest) at `switch`; done at `done`.
    PostCopy {
        switch: f64,
        done: f64,
    },
    Paused {
        switch: f64,
        done: f64,
    },
    /// Aborted at `at`, with the monitor's reason.
    Aborted {
        at: f64,
        reason: String,
    },
}

/// Non-zero memory of an idle guest OS.
const OS_FOOTPRINT: f64 = 80.0 * 1024.0 * 1024.0;

pub fn plan(i: Inputs) -> Outcome {
    let gib = (i.memory_bytes / crate::quantity::GIB).ceil().max(1.0);
    let acceptable = i.completion_timeout_per_gib * gib;
    let mut t = 0.0;
    // Zero pages cost nothing to send: the first pass carries the OS's footprint and the
    // workloads' working sets, not the whole guest memory.
    let mut remaining = (OS_FOOTPRINT + i.working_set).min(i.memory_bytes);
    let mut best = f64::INFINITY;
    let mut stalled_since = 0.0;
    for _ in 0..10_000 {
        let pass = remaining / i.bandwidth;
        let dirtied = (i.dirty_rate * pass).min(i.working_set);
        // The monitor's deadlines may fall inside this pass.
        let stall_deadline = stalled_since + i.progress_timeout_s;
        let deadline = acceptable.min(stall_deadline);
        if t + pass > deadline {
            let left = remaining - i.bandwidth * (deadline - t)
                + (i.dirty_rate * (deadline - t)).min(i.working_set);
            return at_deadline(
                i,
                deadline,
                left.max(0.0),
                deadline == stall_deadline && stall_deadline < acceptable,
                acceptable,
            );
        }
        t += pass;
        remaining = dirtied;
        if remaining <= i.bandwidth * i.max_downtime_s {
            return Outcome::PreCopy {
                done: t + remaining / i.bandwidth,
            };
        }
        if remaining < best {
            best = remaining;
            stalled_since = t;
        }
    }
    Outcome::Aborted {
        at: t,
        reason: "migration did not converge".into(),
    }
}

fn at_deadline(i: Inputs, at: f64, left: f64, stalled: bool, acceptable: f64) -> Outcome {
    if stalled {
        return Outcome::Aborted {
            at,
            reason: format!(
                "Live migration stuck for {} sec and has been aborted",
                i.progress_timeout_s
            ),
        };
    }
    if !i.allow_workload_disruption {
        return Outcome::Aborted {
            at,
            reason: format!(
                "Live migration is not completed after {acceptable} sec and has been aborted"
            ),
        };
    }
    let done = at + left / i.bandwidth;
    // A paused guest dirties nothing, so what is left goes across at full bandwidth.
    if i.allow_post_copy {
        Outcome::PostCopy { switch: at, done }
    } else {
        Outcome::Paused { switch: at, done }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::{GIB, MIB};

    fn inputs(bandwidth: f64, dirty: bool) -> Inputs {
        Inputs {
            memory_bytes: GIB,
            bandwidth,
            dirty_rate: if dirty { GIB } else { 0.0 },
            working_set: if dirty { 350e6 } else { 0.0 },
            max_downtime_s: 0.3,
            completion_timeout_per_gib: 20.0,
            progress_timeout_s: 150.0,
            allow_workload_disruption: true,
            allow_post_copy: false,
        }
    }

    #[test]
    fn an_idle_guest_converges_in_precopy_even_on_a_slow_link() {
        let Outcome::PreCopy { done } = plan(inputs(5.0 * MIB, false)) else {
            panic!("expected precopy")
        };
        assert!(
            (done - 16.0).abs() < 0.5,
            "80 MiB of used memory at 5 MiB/s take 16 s, got {done}"
        );
    }

    #[test]
    fn a_dirtying_guest_on_a_fast_link_still_converges() {
        assert!(matches!(
            plan(inputs(1.25e9, true)),
            Outcome::PreCopy { .. }
        ));
    }

    #[test]
    fn a_dirtying_guest_on_a_slow_link_pauses_after_the_completion_timeout() {
        match plan(inputs(5.0 * MIB, true)) {
            Outcome::Paused { switch, done } => {
                assert_eq!(switch, 20.0);
                assert!(done > switch);
            }
            other => panic!("expected Paused, got {other:?}"),
        }
    }

    #[test]
    fn post_copy_when_allowed_and_abort_without_disruption() {
        let mut i = inputs(5.0 * MIB, true);
        i.allow_post_copy = true;
        assert!(matches!(plan(i), Outcome::PostCopy { switch, .. } if switch == 20.0));
        i.allow_workload_disruption = false;
        match plan(i) {
            Outcome::Aborted { at, reason } => {
                assert_eq!(at, 20.0);
                assert!(reason.contains("not completed after 20 sec"), "{reason}");
            }
            other => panic!("expected an abort, got {other:?}"),
        }
    }

    #[test]
    fn no_progress_for_progress_timeout_aborts_first() {
        let mut i = inputs(400.0 * MIB, true);
        i.working_set = 2.0 * GIB;
        i.memory_bytes = 4.0 * GIB;
        i.completion_timeout_per_gib = 1000.0;
        i.progress_timeout_s = 30.0;
        match plan(i) {
            Outcome::Aborted { reason, .. } => assert!(reason.contains("stuck"), "{reason}"),
            other => panic!("expected an abort for no progress, got {other:?}"),
        }
    }
}

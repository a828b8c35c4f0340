//! Running scenarios as libtest-mimic trials: selection, budgets, disruptive exclusion,
//! interrupts, per-trial records, JUnit and artifacts.

mod config;
mod deadline;
mod diagnostics;
pub mod junit;
pub mod parallel;
pub mod record;
pub mod select;
mod shared;
mod signals;
mod trial;

use std::path::PathBuf;
use std::sync::Arc;

pub use config::{new_run_id, RunConfig};
pub use record::{CaseRecord, Outcome};
pub use select::{Planned, Selection};

use crate::cluster::TargetKind;
use shared::Shared;

/// How a run ended.
pub struct RunReport {
    pub cases: Vec<CaseRecord>,
    pub junit_path: PathBuf,
    pub interrupted: Option<&'static str>,
    pub conclusion: libtest_mimic::Conclusion,
}

impl RunReport {
    pub fn failed(&self) -> bool {
        self.conclusion.has_failed() || self.interrupted.is_some()
    }
}

/// A prepared run. `interrupter()` hands out what the signal handler uses, for tests too.
pub struct Run {
    shared: Arc<Shared>,
    planned: Vec<Planned>,
}

/// Asks a run to stop: running scenarios are cancelled (their teardown still runs), the rest
/// are reported as not run.
#[derive(Clone)]
pub struct Interrupter(Arc<Shared>);

impl Interrupter {
    pub fn interrupt(&self, why: &'static str) {
        self.0.interrupted.send_replace(Some(why));
    }
}

impl Run {
    pub fn new(config: RunConfig, planned: Vec<Planned>) -> std::io::Result<Run> {
        let artifacts = config.artifacts.clone();
        let recorder =
            record::Recorder::new(&planned, |p| artifacts.join(p.scenario.decl.trial_name()));
        Ok(Run {
            shared: Shared::new(config, recorder)?,
            planned,
        })
    }

    /// Scenarios at once when the user gave no number: on the simulator twice the cores (at
    /// least four); on a cluster what parallel.rs derives from its usable workers and
    /// KubeVirt's migration limits, which connects first (one at a time if that fails: the
    /// scenarios then report why).
    pub fn default_threads(&self) -> usize {
        if self.shared.config.target.target == TargetKind::Sim {
            return parallel::sim_threads(&self.shared.config.target);
        }
        let runnable: Vec<crate::plan::Declaration> = self
            .planned
            .iter()
            .filter(|p| p.scenario.body.is_some())
            .map(|p| p.scenario.decl)
            .collect();
        if runnable.is_empty() {
            return 1;
        }
        let connection = self.shared.connection.clone();
        let connected = self.shared.runtime.block_on(connection.get());
        connected.map_or(1, |c| {
            parallel::cluster_threads(&c.target.findings.limits, &runnable)
        })
    }

    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.shared.clone())
    }

    /// Runs the trials under libtest-mimic with `args` and writes JUnit, unless only listing.
    pub fn execute(self, args: &libtest_mimic::Arguments) -> RunReport {
        let signals = (self.shared.config.handle_signals && !args.list)
            .then(|| signals::install(self.shared.clone()))
            .and_then(Result::ok);
        let trials = self
            .planned
            .iter()
            .map(|p| trial::make(self.shared.clone(), p.clone()))
            .collect();
        let conclusion = libtest_mimic::run(args, trials);
        if let Some(handle) = signals {
            handle.close();
        }
        // The run's state may outlive this call (a thread still holding it); its key must not.
        crate::guest::key::remove_of_run(&self.shared.config.run_id);
        let report = RunReport {
            cases: self.shared.recorder.snapshot(),
            junit_path: self.shared.config.junit_path.clone(),
            interrupted: self.shared.interruption(),
            conclusion,
        };
        if !args.list {
            let kept: Vec<CaseRecord> = report
                .cases
                .iter()
                .filter(|c| !filtered_out(args, c))
                .cloned()
                .collect();
            if let Err(e) = write_junit(&self.shared, &kept) {
                eprintln!(
                    "vstp: cannot write JUnit to {}: {e}",
                    report.junit_path.display()
                );
            }
        }
        report
    }
}

/// Cases libtest-mimic's own filter dropped never ran and do not belong in the report.
fn filtered_out(args: &libtest_mimic::Arguments, case: &CaseRecord) -> bool {
    let name = case.planned.scenario.decl.trial_name();
    let by_filter = args.filter.as_deref().is_some_and(|f| {
        if args.exact {
            name != f
        } else {
            !name.contains(f)
        }
    });
    let by_skip = args.skip.iter().any(|s| {
        if args.exact {
            &name == s
        } else {
            name.contains(s.as_str())
        }
    });
    by_filter || by_skip
}

fn write_junit(shared: &Shared, cases: &[CaseRecord]) -> std::io::Result<()> {
    let info = junit::ReportInfo {
        run_id: &shared.config.run_id,
        sim_seed: shared.sim_seed(),
        sim_guests: shared.sim_guests(),
        target: shared.config.target.target,
        polarion: &shared.config.polarion,
    };
    junit::write(&shared.config.junit_path, &junit::render(cases, &info))
}

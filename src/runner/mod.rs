//! Running scenarios as libtest-mimic trials: selection, budgets, disruptive exclusion,
//! interrupts, per-trial records, JUnit and artifacts.

mod ctx;
pub mod junit;
pub mod record;
pub mod select;
mod shared;
mod signals;
mod trial;

use std::path::PathBuf;
use std::sync::Arc;

pub use ctx::{Ctx, StepLog};
pub use record::{CaseRecord, Outcome};
pub use select::{Planned, Selection};

use crate::cluster::{TargetKind, TargetOptions};
use shared::Shared;

/// Everything a run needs to know besides which scenarios it runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub run_id: String,
    pub target: TargetOptions,
    /// On a cluster, disruptive scenarios run only when this is set.
    pub allow_disruptive: bool,
    pub polarion_project: String,
    pub junit_path: PathBuf,
    pub artifacts: PathBuf,
    /// Catch SIGINT/SIGTERM to finish teardown and write JUnit (off inside library tests).
    pub handle_signals: bool,
}

impl RunConfig {
    /// Paths per DESIGN §4: `$ARTIFACT_DIR/junit_vstp.xml` in CI, else `target/vstp/<run-id>/`.
    pub fn new(target: TargetOptions, allow_disruptive: bool) -> RunConfig {
        let run_id = new_run_id();
        let (junit_path, artifacts) =
            match std::env::var_os("ARTIFACT_DIR").filter(|d| !d.is_empty()) {
                Some(dir) => {
                    let dir = PathBuf::from(dir);
                    (dir.join("junit_vstp.xml"), dir.join("vstp").join(&run_id))
                }
                None => {
                    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
                        .map_or_else(|| PathBuf::from("target"), PathBuf::from);
                    let base = target_dir.join("vstp").join(&run_id);
                    (base.join("junit.xml"), base)
                }
            };
        RunConfig {
            run_id,
            target,
            allow_disruptive,
            polarion_project: std::env::var("VSTP_POLARION_PROJECT")
                .unwrap_or_else(|_| "CNV".into()),
            junit_path,
            artifacts,
            handle_signals: true,
        }
    }

    /// Threads when the user gave none: on the simulator twice the cores and at least four
    /// (a scenario spends most of its time waiting for the simulated cluster), one on a
    /// shared cluster.
    pub fn default_threads(&self) -> usize {
        match self.target.target {
            TargetKind::Sim => {
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
                (2 * cores).max(4)
            }
            TargetKind::Cluster => 1,
        }
    }
}

/// `YYYYMMDD-HHMMSS-xxxx`: sortable, unique enough per machine, valid as a label value.
pub fn new_run_id() -> String {
    let now = chrono::Local::now();
    let salt = (std::process::id() ^ now.timestamp_subsec_nanos()) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%d-%H%M%S"))
}

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
        let recorder = record::Recorder::new(&planned, |p| artifacts.join(p.scenario.trial_name()));
        Ok(Run {
            shared: Shared::new(config, recorder)?,
            planned,
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
    let name = case.planned.scenario.trial_name();
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
        target: shared.config.target.target,
        polarion_project: &shared.config.polarion_project,
    };
    junit::write(&shared.config.junit_path, &junit::render(cases, &info))
}

//! Per-trial results, kept as the run goes so that a report can be written at any moment,
//! including from a signal handler mid-run.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::select::Planned;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// An assertion or wait failed: what was expected, what was seen, where diagnostics are.
    Failed(String),
    Skipped(String),
    /// The trial could not run to an end: interrupted, panicked, never started.
    Error(String),
    /// The environment stopped the trial before it could judge the product: a guest that
    /// never let the harness in, a tool missing in the guest (guest::environment).
    Environment(String),
}

impl Outcome {
    /// The same outcome with `note` appended to its message (a pass stays a pass).
    pub fn with_note(self, note: &str) -> Outcome {
        match self {
            Outcome::Failed(m) => Outcome::Failed(format!("{m}\n{note}")),
            Outcome::Error(m) => Outcome::Error(format!("{m}\n{note}")),
            Outcome::Environment(m) => Outcome::Environment(format!("{m}\n{note}")),
            other => other,
        }
    }
}

#[derive(Debug, Clone)]
pub enum State {
    NotStarted,
    Running { since: Instant },
    Done { outcome: Outcome, elapsed: Duration },
}

/// A finished attempt that does not decide the case: the first run of a scenario the runner
/// ran once more (trial.rs `rerun_reason`).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub outcome: Outcome,
    pub elapsed: Duration,
    pub log: String,
}

#[derive(Clone)]
pub struct CaseRecord {
    pub planned: Planned,
    pub state: State,
    /// The step log with timings, as it will appear in `system-out`.
    pub log: String,
    /// What the scenario reported as JUnit properties of its case (ctx.property).
    pub properties: Vec<(String, String)>,
    pub artifacts: PathBuf,
    /// Attempts before the one `state` holds, oldest first.
    pub earlier: Vec<Attempt>,
}

impl CaseRecord {
    /// The outcome to report now: an unfinished case is an error saying how far it got.
    pub fn outcome_now(&self) -> (Outcome, Duration) {
        match &self.state {
            State::Done { outcome, elapsed } => (outcome.clone(), *elapsed),
            State::Running { since } => (
                Outcome::Error(format!(
                    "interrupted while running, after {:.1}s",
                    since.elapsed().as_secs_f64()
                )),
                since.elapsed(),
            ),
            State::NotStarted => (
                Outcome::Error("not run: the run ended before it started".into()),
                Duration::ZERO,
            ),
        }
    }
}

/// The results of one run, in selection order.
pub struct Recorder {
    cases: Mutex<Vec<CaseRecord>>,
}

impl Recorder {
    pub fn new(planned: &[Planned], artifacts_of: impl Fn(&Planned) -> PathBuf) -> Recorder {
        let cases = planned
            .iter()
            .map(|p| CaseRecord {
                planned: p.clone(),
                state: State::NotStarted,
                log: String::new(),
                properties: Vec::new(),
                artifacts: artifacts_of(p),
                earlier: Vec::new(),
            })
            .collect();
        Recorder {
            cases: Mutex::new(cases),
        }
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut CaseRecord)) {
        let mut cases = self.cases.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(case) = cases
            .iter_mut()
            .find(|c| c.planned.scenario.decl.trial_name() == name)
        {
            change(case);
        }
    }

    pub fn start(&self, name: &str) {
        self.update(name, |c| {
            c.state = State::Running {
                since: Instant::now(),
            }
        });
    }

    pub fn finish(&self, name: &str, outcome: Outcome, log: String) {
        self.update(name, |c| {
            let elapsed = match c.state {
                State::Running { since } => since.elapsed(),
                _ => Duration::ZERO,
            };
            c.state = State::Done { outcome, elapsed };
            c.log = log;
        });
    }

    /// Keeps the finished attempt of `name` as an earlier one and starts the next.
    pub fn rerun(&self, name: &str) {
        self.update(name, |c| {
            if let State::Done { outcome, elapsed } = &c.state {
                c.earlier.push(Attempt {
                    outcome: outcome.clone(),
                    elapsed: *elapsed,
                    log: std::mem::take(&mut c.log),
                });
            }
            c.state = State::Running {
                since: Instant::now(),
            };
        });
    }

    pub fn properties(&self, name: &str, properties: Vec<(String, String)>) {
        self.update(name, |c| c.properties = properties);
    }

    pub fn snapshot(&self) -> Vec<CaseRecord> {
        self.cases.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

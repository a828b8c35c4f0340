//! One scenario as one libtest-mimic trial.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use libtest_mimic::{Completion, Failed, Trial};

use super::deadline;
use super::diagnostics;
use super::record::Outcome;
use super::select::Planned;
use super::shared::Shared;
use crate::cluster::budget::{self, Budgets, WaitLedger};
use crate::cluster::guest_lane::Guests;
use crate::cluster::TargetKind;
use crate::ctx::steps::StepLog;
use crate::ctx::{Ctx, Owned};
use crate::guest::environment;
use crate::scenarios::{Body, Scenario};

pub fn make(shared: Arc<Shared>, planned: Planned) -> Trial {
    let name = planned.scenario.decl.trial_name();
    Trial::ignorable_test(name, move || run(&shared, &planned))
}

fn run(shared: &Arc<Shared>, planned: &Planned) -> Result<Completion, Failed> {
    let name = planned.scenario.decl.trial_name();
    let outcome = match gate(shared, planned) {
        Err(outcome) => {
            shared
                .recorder
                .finish(&name, outcome.clone(), String::new());
            outcome
        }
        Ok(body) => {
            let _turn = Turn::take(shared, &planned.scenario);
            shared.recorder.start(&name);
            let artifacts = shared.config.artifacts.join(&name);
            let first = attempt(shared, planned, body.clone(), &artifacts);
            let interrupted = shared.interruption().is_some();
            match rerun_reason(shared.sim_guests(), interrupted, &first) {
                Some(reason) => {
                    eprintln!("vstp: running {name} once more: {reason}");
                    shared.recorder.rerun(&name);
                    attempt(shared, planned, body, &artifacts.join(RERUN_DIR)).outcome
                }
                None => first.outcome,
            }
        }
    };
    match outcome {
        Outcome::Passed => Ok(Completion::Completed),
        Outcome::Skipped(reason) => Ok(Completion::ignored_with(reason)),
        Outcome::Failed(message) | Outcome::Error(message) | Outcome::Environment(message) => {
            Err(message.into())
        }
    }
}

/// Where a rerun keeps its artifacts, inside the first attempt's folder.
const RERUN_DIR: &str = "rerun";

/// One run of a scenario's body, recorded and logged, with its artifacts in `artifacts`.
fn attempt(shared: &Arc<Shared>, planned: &Planned, body: Body, artifacts: &Path) -> Ran {
    let name = planned.scenario.decl.trial_name();
    eprintln!("vstp: started {name}");
    let log = Arc::new(StepLog::new());
    let started = std::time::Instant::now();
    let ran = execute(shared, planned, body, log.clone(), artifacts);
    eprintln!(
        "vstp: {} {name} in {:.2}s{}",
        verdict(&ran.outcome),
        started.elapsed().as_secs_f64(),
        first_line(&ran.outcome)
    );
    save_log(artifacts, &log);
    shared
        .recorder
        .finish(&name, ran.outcome.clone(), log.render());
    shared.recorder.properties(&name, log.properties());
    ran
}

/// Why a failed attempt is run once more, if it is. Only in the simulator's qemu lane (in
/// process, or a served simulator whose ConfigMap says its guests are qemu's), and only when
/// a guest's kernel crashed: under TCG, qemu's dirty tracking has lost stores a busy guest
/// made while it migrated, and the target's kernel then died on the stale page (README,
/// "Found by it: qemu's TCG lost a busy guest's stores"; the lane avoids the known cause, and
/// this is the net for others). KVM tracks dirty pages in the host kernel, so on a cluster a
/// guest kernel crash is the product's and is never rerun; nor is any other failure in the
/// lane.
fn rerun_reason(guests: Option<Guests>, interrupted: bool, first: &Ran) -> Option<String> {
    let failed = matches!(
        first.outcome,
        Outcome::Failed(_) | Outcome::Error(_) | Outcome::Environment(_)
    );
    if !failed || guests != Some(Guests::Qemu) || interrupted {
        return None;
    }
    let crash = first.guest_crashes.first()?;
    Some(format!(
        "a guest kernel crashed in the qemu lane ({crash}), which TCG's lost \
         dirty-page tracking can cause; both attempts are in the JUnit"
    ))
}

/// How an attempt ended, and which guests' kernels crashed in it.
struct Ran {
    outcome: Outcome,
    guest_crashes: Vec<String>,
}

/// Why the scenario does not run at all, as its outcome; else its body.
fn gate(shared: &Shared, planned: &Planned) -> Result<Body, Outcome> {
    if let Some(signal) = shared.interruption() {
        return Err(Outcome::Error(format!(
            "not run: the run was interrupted by {signal}"
        )));
    }
    let scenario = &planned.scenario;
    let Some(body) = scenario.body.clone() else {
        let reason = scenario.decl.pending.unwrap_or("no body attached");
        return Err(Outcome::Skipped(format!("pending: {reason}")));
    };
    if scenario.decl.disruptive
        && shared.config.target.target == TargetKind::Cluster
        && !shared.config.allow_disruptive
    {
        return Err(Outcome::Skipped(
            "disruptive (drains nodes or changes node networking): pass --allow-disruptive to run it on a cluster".into(),
        ));
    }
    Ok(body)
}

/// Ordinary scenarios share the cluster; a disruptive one waits until it has it alone, except
/// one that only changes node networking, which waits only for the others that do.
enum Turn<'a> {
    Shared(#[allow(dead_code)] std::sync::RwLockReadGuard<'a, ()>),
    Alone(#[allow(dead_code)] std::sync::RwLockWriteGuard<'a, ()>),
    NodeNetworking(
        #[allow(dead_code)] std::sync::RwLockReadGuard<'a, ()>,
        #[allow(dead_code)] std::sync::MutexGuard<'a, ()>,
    ),
}

impl<'a> Turn<'a> {
    fn take(shared: &'a Shared, scenario: &Scenario) -> Turn<'a> {
        let read = || shared.exclusive.read().unwrap_or_else(|e| e.into_inner());
        match (scenario.decl.disruptive, scenario.decl.node_networking) {
            (true, false) => {
                Turn::Alone(shared.exclusive.write().unwrap_or_else(|e| e.into_inner()))
            }
            (_, true) => {
                let shared_turn = read();
                let nics = shared
                    .node_networking
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                Turn::NodeNetworking(shared_turn, nics)
            }
            (false, false) => Turn::Shared(read()),
        }
    }
}

fn execute(
    shared: &Arc<Shared>,
    planned: &Planned,
    body: Body,
    log: Arc<StepLog>,
    artifacts: &Path,
) -> Ran {
    let scenario = &planned.scenario;
    let owned = Arc::new(Owned::default());
    let trial = scenario.decl.trial_name();
    let artifacts = artifacts.to_path_buf();
    let connection = shared.connection.clone();
    let ctx = Ctx::new(
        connection.clone(),
        &trial,
        scenario.decl.slug,
        artifacts.clone(),
        log.clone(),
        owned.clone(),
    );
    let fixed = scenario.decl.budget;
    let mut interrupted = shared.interrupted.subscribe();
    let (needs, os) = (scenario.decl.needs, scenario.decl.os);
    shared.runtime.block_on(async move {
        let mut budgets = Budgets::CLUSTER;
        if let Ok(connected) = connection.get().await {
            if let Some(reason) = connected.target.findings.skip_reason(&needs, os) {
                return Ran {
                    outcome: Outcome::Skipped(reason),
                    guest_crashes: Vec::new(),
                };
            }
            budgets = connected.target.budgets;
        }
        let waits = &owned.waits;
        let budget = || fixed.unwrap_or_else(|| budget::scenario_budget(&budgets, waits));
        let work = AssertUnwindSafe(body(ctx)).catch_unwind();
        let outcome = tokio::select! {
            result = deadline::within(work, budget) => match result {
                Ok(Ok(Ok(()))) => Outcome::Passed,
                Ok(Ok(Err(error))) => judged(&error),
                Ok(Err(panic)) => Outcome::Error(format!("the scenario panicked: {}", panic_text(&panic))),
                Err(ran_out) => Outcome::Failed(format!(
                    "exceeded its budget of {:.1}s ({}); last step: {}",
                    ran_out.as_secs_f64(),
                    made_of(fixed, &budgets, waits),
                    last_line(&log)
                )),
            },
            Ok(signal) = interrupted.wait_for(Option::is_some) => {
                Outcome::Error(format!("interrupted by {}; last step: {}", signal.unwrap_or("a signal"), last_line(&log)))
            }
        };
        // The body is gone (finished, failed, timed out or cancelled by a signal); what it
        // created is still there and is given back now, after its state was saved.
        give_back(&owned, &artifacts, &log, outcome).await
    })
}

/// What a budget that ran out was made of.
fn made_of(fixed: Option<Duration>, budgets: &Budgets, waits: &WaitLedger) -> String {
    if fixed.is_some() {
        return "fixed by its declaration".into();
    }
    let harness = budgets.harness_work().as_secs_f64();
    match waits.describe() {
        charged if charged.is_empty() => format!("harness work {harness:.0}s, no wait started"),
        charged => format!("harness work {harness:.0}s + waits: {charged}"),
    }
}

/// Saves diagnostics when the scenario did not pass, then tears down everything it owns. A
/// teardown that leaves something behind turns a pass into an error. A guest kernel crash
/// the diagnostics found is named in the verdict: it is the first thing to read.
async fn give_back(owned: &Owned, artifacts: &Path, log: &StepLog, outcome: Outcome) -> Ran {
    let scopes: Vec<_> = owned
        .scopes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut outcome = outcome;
    let mut guest_crashes = Vec::new();
    if !matches!(outcome, Outcome::Passed | Outcome::Skipped(_)) {
        let transcripts = transcripts(owned);
        for scope in &scopes {
            let found = diagnostics::collect(scope, artifacts, &transcripts).await;
            for crash in &found.guest_crashes {
                outcome = outcome.with_note(&format!("guest kernel crashed: {crash}"));
            }
            outcome = outcome.with_note(&format!("diagnostics: {}", found.dir.display()));
            guest_crashes.extend(found.guest_crashes);
        }
    }
    for scope in scopes.iter().rev() {
        log.push(&format!("teardown of {}", scope.ns()));
        if let Err(e) = scope.teardown().await {
            log.push(&format!("{e:#}"));
            outcome = match outcome {
                Outcome::Passed => Outcome::Error(format!("{e:#}")),
                other => other.with_note(&format!("{e:#}")),
            };
        }
    }
    Ran {
        outcome,
        guest_crashes,
    }
}

/// `guest-<vm>.txt` → the last commands sent to that guest.
fn transcripts(owned: &Owned) -> Vec<(String, String)> {
    owned
        .transcripts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(vm, t)| {
            let lines: Vec<String> = t
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned()
                .collect();
            (format!("guest-{vm}.txt"), lines.join("\n"))
        })
        .collect()
}

fn verdict(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed(_) => "FAILED",
        Outcome::Skipped(_) => "skipped",
        Outcome::Error(_) => "ERROR",
        Outcome::Environment(_) => "ERROR (environment)",
    }
}

/// `: <first line of the message>` for outcomes that have one.
fn first_line(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Passed => String::new(),
        Outcome::Failed(m) | Outcome::Skipped(m) | Outcome::Error(m) | Outcome::Environment(m) => {
            format!(": {}", m.lines().next().unwrap_or(""))
        }
    }
}

/// A scenario's error: an environment problem anywhere in its chain is reported as such, with
/// the problem first; anything else is the product failing the scenario.
fn judged(error: &anyhow::Error) -> Outcome {
    match environment::of(error) {
        Some(problem) => Outcome::Environment(format!("{problem}\n{error:#}")),
        None => Outcome::Failed(format!("{error:#}")),
    }
}

fn last_line(log: &StepLog) -> String {
    log.render()
        .lines()
        .last()
        .map_or_else(|| "(none logged)".into(), str::to_string)
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".into())
}

fn save_log(dir: &Path, log: &StepLog) {
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(dir.join("steps.log"), log.render()));
    if let Err(e) = written {
        eprintln!("vstp: cannot write the step log to {}: {e}", dir.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Wait;

    fn ran(outcome: Outcome, crashes: &[&str]) -> Ran {
        Ran {
            outcome,
            guest_crashes: crashes.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// Only a failure whose guest kernel crashed, in the simulator's qemu lane, and not while
    /// the run is being interrupted, runs once more.
    #[test]
    fn only_a_guest_kernel_crash_in_the_qemu_lane_is_run_once_more() {
        let crash = ["vm: [ 22.0] list_add corruption. next->prev should be prev"];
        let crashed = ran(Outcome::Failed("SSH timed out".into()), &crash);
        let reason = rerun_reason(Some(Guests::Qemu), false, &crashed).expect("a rerun");
        assert!(reason.contains("list_add corruption"), "{reason}");
        assert!(rerun_reason(Some(Guests::Qemu), true, &crashed).is_none());
        assert!(rerun_reason(Some(Guests::Emulated), false, &crashed).is_none());
        assert!(rerun_reason(None, false, &crashed).is_none(), "a cluster");
        let plain = ran(Outcome::Failed("SSH timed out".into()), &[]);
        assert!(rerun_reason(Some(Guests::Qemu), false, &plain).is_none());
        let passed = ran(Outcome::Passed, &crash);
        assert!(rerun_reason(Some(Guests::Qemu), false, &passed).is_none());
        let error = ran(Outcome::Error("the scenario panicked".into()), &crash);
        assert!(rerun_reason(Some(Guests::Qemu), false, &error).is_some());
    }

    #[test]
    fn a_budget_that_ran_out_says_what_it_was_made_of() {
        let sim = Budgets {
            scale: 60.0,
            slack: 1.0,
        };
        let waits = WaitLedger::default();
        assert_eq!(
            made_of(None, &sim, &waits),
            "harness work 120s, no wait started"
        );
        waits.charge(Wait::WindowsBoot, sim.of(Wait::WindowsBoot));
        waits.charge(Wait::Migration, sim.of(Wait::Migration));
        assert_eq!(
            made_of(None, &sim, &waits),
            "harness work 120s + waits: WindowsBoot 30s, Migration 20s"
        );
        let fixed = Some(Duration::from_secs(1));
        assert_eq!(made_of(fixed, &sim, &waits), "fixed by its declaration");
    }
}

//! Tamper tests: something acts on the cluster from outside, only through the API, at a
//! moment of a running scenario (before its operation, during the operation's migration,
//! after it, before the final checks): it restarts the VM, deletes its launcher pod, patches
//! its VMI status (a MAC, `migrationState.mode`), pauses it, or points its NIC back at the old
//! NAD. Every tamper that breaks a property the scenario guards must end the scenario red
//! (failed or error, never passed); `tests/tamper/expected.tsv` says, cell by cell, which
//! must and why the others may pass. The table of outcomes, and the check that named each,
//! is printed and written to `target/vstp-tamper.md`.
//!
//! Every tamper × moment runs on every test run (the cross product is small); the seed
//! (printed; `VSTP_TAMPER_SEED` repeats it) draws the simulators' timing jitter and the delay
//! before the final checks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use vstp::runner::{new_run_id, Outcome, Run, RunConfig};

mod support;

#[path = "tamper/expected.rs"]
mod expected;
#[path = "tamper/outcome.rs"]
mod outcome;
#[path = "tamper/tamperer.rs"]
mod tamperer;

use expected::{Cell, Expect};
use support::SimCluster;
use tamperer::{moment_name, tamper_name, Moment, Plan};

/// Scenarios at once, each on its own simulated cluster (two node-networking scenarios must
/// not share one): a 2-core CI machine must not starve the SSH handshakes.
const LANES: usize = 2;

/// The VM each tampered row tests.
fn vm_of(row: &str) -> Option<&'static str> {
    match row {
        "bridge-vlan-swap" | "localnet-swap" => Some("vm-under-test"),
        "rhel-paused" | "rhel-postcopy" => Some("busy-vm"),
        _ => None,
    }
}

/// One cell's run.
struct Done {
    cell: Cell,
    /// The delay before the final checks, in the simulator's modelled seconds.
    modelled_delay: u64,
    outcome: Outcome,
    /// The run's step log.
    log: String,
    /// What the tamperer did and saw before the run ended.
    tamper: tamperer::Report,
    leftovers: Vec<String>,
}

fn seed() -> u64 {
    let seed = std::env::var("VSTP_TAMPER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64 * 104_729);
    println!("tamper: seed {seed} (VSTP_TAMPER_SEED={seed} repeats it)");
    seed
}

/// The simulator's published time scale (modelled seconds per real second).
fn time_scale(cluster: &SimCluster, client: &kube::Client) -> f64 {
    cluster.runtime.block_on(async {
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client.clone(), "kube-system");
        let map = api
            .get("vstp-sim")
            .await
            .expect("the simulator's ConfigMap");
        let data = map.data.unwrap_or_default();
        let text = data.get("timeScale").cloned().unwrap_or_default();
        text.parse()
            .unwrap_or_else(|_| panic!("timeScale {text:?} is not a number"))
    })
}

/// Runs `cells` one after another on a simulator of its own.
fn lane(index: usize, cells: Vec<Cell>, seed: u64) -> Vec<Done> {
    let cluster = SimCluster::start("tamper", "", seed + index as u64);
    let client = cluster.client();
    let scale = time_scale(&cluster, &client);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed + index as u64);
    let mut done = Vec::new();
    for cell in cells {
        let modelled = rng.random_range(0..=4);
        let delay = Duration::from_secs(modelled).div_f64(scale);
        let mut run = run_cell(&cluster, &client, cell, delay);
        run.modelled_delay = modelled;
        done.push(run);
    }
    done
}

fn run_cell(cluster: &SimCluster, client: &kube::Client, cell: Cell, delay: Duration) -> Done {
    let before = cluster.snapshot();
    let planned = support::runs::row(&cell.row);
    let vm = vm_of(&cell.row).unwrap_or_else(|| panic!("no VM known for row {}", cell.row));
    let run_id = new_run_id();
    let plan = Plan {
        run_id: run_id.clone(),
        vm: vm.to_string(),
        tamper: cell.tamper,
        moment: cell.moment,
        delay,
        first_nad: String::new(),
    };
    let seen = tamperer::Shared::default();
    let tamperer = cluster
        .runtime
        .spawn(tamperer::tamper(client.clone(), plan, seen.clone()));
    let mut config = RunConfig::new(cluster.target(), true);
    config.run_id = run_id;
    config.junit_path = cluster.path("junit.xml");
    config.artifacts = cluster.path("artifacts");
    config.handle_signals = false;
    let args = libtest_mimic::Arguments {
        test_threads: Some(1),
        quiet: true,
        ..Default::default()
    };
    let report = Run::new(config, vec![planned]).expect("run").execute(&args);
    let outcome = report.cases[0].outcome_now().0;
    let log = report.cases[0].log.clone();
    // What it has not seen by the end of the run, it will not see for this run.
    tamperer.abort();
    let tamper = seen.lock().expect("the report").clone();
    let leftovers = before.changes_to(&cluster.snapshot());
    Done {
        cell,
        modelled_delay: 0,
        outcome,
        log,
        tamper,
        leftovers,
    }
}

/// The effect, and when it and the body's end came after the tamper acted (real seconds).
fn effect_column(r: &tamperer::Report) -> String {
    let since = |t: Option<std::time::Instant>| match (r.acted_at, t) {
        (Some(a), Some(t)) if t >= a => format!("+{:.2} s", t.duration_since(a).as_secs_f64()),
        (Some(a), Some(t)) => format!("-{:.2} s", a.duration_since(t).as_secs_f64()),
        _ => "?".into(),
    };
    let effect = r
        .effect
        .as_deref()
        .unwrap_or("none seen before the run ended");
    let when = match landing(r) {
        Landing::BeforeTheEnd => "before the body ended",
        Landing::AfterTheEnd => "landed after the final checks",
        Landing::NotActed => return effect.to_string(),
    };
    format!(
        "{effect} ({} real; body ended {}): {when}",
        since(r.effect_at),
        since(r.teardown_at)
    )
}

fn render(done: &[Done]) -> String {
    let mut out = String::from(
        "| tamper | moment | row | expected | outcome | named by | message | tamper did | effect | why it may pass |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let clean = |s: &str| s.replace(['|', '\n'], " ");
    for d in done {
        let (kind, message) = outcome::summary(&d.outcome);
        let (expect, why) = match d.cell.expect {
            Expect::Red => ("red", ""),
            Expect::MayPass => ("may-pass", d.cell.reason.as_str()),
        };
        let r = &d.tamper;
        let did = match (&r.acted, &r.refused) {
            (Some(a), _) => a.clone(),
            (None, Some(e)) => format!("refused or never came: {e}"),
            (None, None) => "never acted: the moment did not come before the run ended".into(),
        };
        let effect = effect_column(r);
        let moment = match d.cell.moment {
            Moment::BeforeFinal => format!("before-final (+{} s)", d.modelled_delay),
            other => moment_name(other).to_string(),
        };
        out += &format!(
            "| {} | {moment} | {} | {expect} | {kind} | {} | {} | {} | {} | {} |\n",
            tamper_name(d.cell.tamper),
            d.cell.row,
            outcome::named_by(&d.outcome),
            clean(&message),
            clean(&did),
            clean(&effect),
            clean(why)
        );
    }
    out
}

/// When a tamper took hold, against the end of the scenario's body (its last check): the
/// runner deletes the namespace first thing after the body returns, so the moment the
/// tamperer saw it terminating stands for the body's end (for a passed run, which collects no
/// diagnostics first). Wall-clock instants decide which expectation applies; they are never
/// asserted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Landing {
    /// The effect was seen before the body ended, or the tamper acted before then and its
    /// effect was never seen: the run had its chance to notice.
    BeforeTheEnd,
    /// It acted, or its effect showed, only after the body ended.
    AfterTheEnd,
    /// It never acted.
    NotActed,
}

fn landing(r: &tamperer::Report) -> Landing {
    let Some(acted) = r.acted_at else {
        return Landing::NotActed;
    };
    let after = |t: std::time::Instant| r.teardown_at.is_some_and(|end| t >= end);
    if after(acted) || r.effect_at.is_some_and(after) {
        Landing::AfterTheEnd
    } else {
        Landing::BeforeTheEnd
    }
}

/// What a cell's run shows wrong: a red cell that passed although its tamper acted before the
/// body ended (whether or not its effect was seen), a red cell whose tamper was refused or
/// never came (its red would come from something else), and anything a run left behind.
fn problems(d: &Done) -> Vec<String> {
    let name = format!(
        "{} × {} on {}",
        tamper_name(d.cell.tamper),
        moment_name(d.cell.moment),
        d.cell.row
    );
    let mut found = Vec::new();
    let passed = d.outcome == Outcome::Passed;
    if d.cell.expect == Expect::Red {
        match landing(&d.tamper) {
            Landing::BeforeTheEnd if passed => found.push(format!(
                "{name} passed, but the tamper acted before the scenario's body ended and breaks what it guards: {:?}\nsteps:\n{}",
                d.tamper, d.log
            )),
            Landing::NotActed if d.tamper.refused.is_some() || !passed => found.push(format!(
                "{name} is expected red, but the tamper did not act: {:?}",
                d.tamper.refused
            )),
            // Before the final checks, the seeded moment may come after them.
            Landing::NotActed if d.cell.moment != Moment::BeforeFinal => found.push(format!(
                "{name} is expected red, but its moment never came before the run ended"
            )),
            _ => {}
        }
    }
    found.extend(d.leftovers.iter().map(|l| format!("{name} left {l}")));
    found
}

/// `VSTP_TAMPER_CELLS=restart:before-final,nad-back:during` keeps only those cells (to look
/// at one closely); unset, every cell runs.
fn only(cells: Vec<Cell>) -> Vec<Cell> {
    let Ok(wanted) = std::env::var("VSTP_TAMPER_CELLS") else {
        return cells;
    };
    let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
    let kept: Vec<Cell> = cells
        .into_iter()
        .filter(|c| {
            let name = format!("{}:{}", tamper_name(c.tamper), moment_name(c.moment));
            wanted.contains(&name.as_str())
        })
        .collect();
    assert!(
        !kept.is_empty(),
        "VSTP_TAMPER_CELLS={wanted:?} names no cell: write tamper:moment, e.g. restart:after"
    );
    kept
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    )
}

#[test]
fn every_tamper_that_breaks_a_guarded_property_ends_the_scenario_red() {
    let cells = only(expected::cells().unwrap_or_else(|e| panic!("{e}")));
    let seed = seed();
    let mut lanes: BTreeMap<usize, Vec<Cell>> = BTreeMap::new();
    for (i, cell) in cells.into_iter().enumerate() {
        lanes.entry(i % LANES).or_default().push(cell);
    }
    let started = std::time::Instant::now();
    let handles: Vec<_> = lanes
        .into_iter()
        .map(|(i, cells)| std::thread::spawn(move || lane(i, cells, seed)))
        .collect();
    let mut done: Vec<Done> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("a lane panicked"))
        .collect();
    done.sort_by_key(|d| (d.cell.tamper, d.cell.moment));
    let table = render(&done);
    println!("{table}\n{} runs in {:?}", done.len(), started.elapsed());
    let _ = std::fs::write(target_dir().join("vstp-tamper.md"), &table);
    let found: Vec<String> = done.iter().flat_map(problems).collect();
    assert!(found.is_empty(), "{}\n{table}", found.join("\n"));
}

#[test]
fn the_expectations_cover_every_tamper_at_every_moment_on_a_known_row() {
    let cells = expected::cells().unwrap_or_else(|e| panic!("{e}"));
    let unknown: Vec<&str> = cells
        .iter()
        .filter(|c| vm_of(&c.row).is_none())
        .map(|c| c.row.as_str())
        .collect();
    assert!(
        unknown.is_empty(),
        "rows without a known VM under test: {unknown:?}"
    );
    let unexplained: Vec<String> = cells
        .iter()
        .filter(|c| c.reason.trim().is_empty())
        .map(|c| format!("{} × {}", tamper_name(c.tamper), moment_name(c.moment)))
        .collect();
    assert!(
        unexplained.is_empty(),
        "cells without a reason: {unexplained:?}"
    );
}

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
        let modelled = rng.random_range(0..=8);
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
    // What it has not seen by the end of the run, it will not see for this run.
    tamperer.abort();
    let tamper = seen.lock().expect("the report").clone();
    let leftovers = before.changes_to(&cluster.snapshot());
    Done {
        cell,
        modelled_delay: 0,
        outcome,
        tamper,
        leftovers,
    }
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
        let effect = match (&r.effect, r.before_teardown) {
            (Some(e), Some(true)) => format!("{e}, while the scenario ran"),
            (Some(e), _) => format!("{e}, after the scenario ended"),
            (None, _) => "none seen before the run ended".into(),
        };
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

/// Whether a red cell's tamper landed while the scenario still ran: it acted, and its effect
/// showed before teardown. Before the final checks, the seeded delay may put it after them;
/// at the other moments the scenario is always still running.
fn landed(d: &Done) -> bool {
    d.tamper.acted.is_some() && d.tamper.before_teardown == Some(true)
}

/// What a cell's run shows wrong: a red cell that passed with its tamper landed in time, a
/// red cell whose tamper did not act (its red would come from something else), and anything
/// a run left behind.
fn problems(d: &Done) -> Vec<String> {
    let name = format!(
        "{} × {} on {}",
        tamper_name(d.cell.tamper),
        moment_name(d.cell.moment),
        d.cell.row
    );
    let mut found = Vec::new();
    if d.cell.expect == Expect::Red {
        if d.tamper.acted.is_none() {
            found.push(format!(
                "{name} is expected red, but the tamper did not act: {:?}",
                d.tamper.refused
            ));
        } else if d.outcome == Outcome::Passed
            && (landed(d) || d.cell.moment != Moment::BeforeFinal)
        {
            found.push(format!(
                "{name} passed, but the tamper breaks what it guards: {:?}",
                d.tamper
            ));
        }
    }
    found.extend(d.leftovers.iter().map(|l| format!("{name} left {l}")));
    found
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    )
}

#[test]
fn every_tamper_that_breaks_a_guarded_property_ends_the_scenario_red() {
    let cells = expected::cells().unwrap_or_else(|e| panic!("{e}"));
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

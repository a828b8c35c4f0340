//! The fault matrix: the whole catalogue against a clean simulator, against each product
//! regression of vstp-sim's fault catalogue, and against each infrastructure fault. A clean
//! or infrastructure run must pass everywhere and leave nothing behind; each regression must
//! be caught by at least one scenario, and only by scenarios of the STPs it concerns. The
//! matrix is printed and saved to `target/vstp-fault-matrix.md`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use vstp::cluster::{TargetKind, TargetOptions};
use vstp::runner::{Outcome, Run, RunConfig};

/// STP files whose scenarios may fail under each product regression (`*` = any).
const CONCERNS: &[(&str, &[&str])] = &[
    (
        "reboot-on-nad-swap",
        &["live-update-nad-ref", "nic-hotplug"],
    ),
    ("mac-regenerated", &["live-update-nad-ref", "nic-hotplug"]),
    ("migration-restarts-processes", &["*"]),
    ("mode-misreported", &["workload-disruption-migration"]),
    ("awd-ignored", &["workload-disruption-migration"]),
    (
        "eviction-without-migration",
        &["workload-disruption-migration"],
    ),
    (
        "cpu-hotplug-not-in-guest",
        &["workload-disruption-migration"],
    ),
    (
        "memory-hotplug-not-in-guest",
        &["workload-disruption-migration"],
    ),
    ("udn-ip-changes", &["primary-udn-migration"]),
    ("migration-resets-tcp", &["primary-udn-migration"]),
];

/// Catalogue runs at once: scenarios mostly wait on the simulated clock, but SSH handshakes
/// cost CPU, and a 2-core CI machine must not starve them.
const AT_ONCE: usize = 3;

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Passed,
    Caught(String),
    FalseAlarm(String),
}

fn config(fault: &str) -> RunConfig {
    let dir = std::env::temp_dir().join(format!("vstp-matrix-{}-{fault}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = TargetOptions {
        target: TargetKind::Sim,
        kubeconfig: None,
        context: None,
        settings: None,
        sim_faults: Some(fault.to_string()),
    };
    let mut config = RunConfig::new(options, true);
    config.junit_path = dir.join("junit.xml");
    config.artifacts = dir.join("artifacts");
    config.handle_signals = false;
    config
}

/// Runs the whole catalogue with `fault` (empty = none): trial name → outcome.
fn run(fault: &str) -> BTreeMap<String, Outcome> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    let planned = vstp::cli::planned_or_problems(&root).unwrap_or_else(|p| panic!("{p:?}"));
    let args = libtest_mimic::Arguments {
        test_threads: Some(2),
        quiet: true,
        ..Default::default()
    };
    let report = Run::new(config(fault), planned)
        .expect("run")
        .execute(&args);
    report
        .cases
        .iter()
        .map(|c| (c.planned.scenario.trial_name(), c.outcome_now().0))
        .collect()
}

fn concerns(fault: &str, trial: &str) -> bool {
    let stps = CONCERNS
        .iter()
        .find(|(f, _)| *f == fault)
        .map_or(&[][..], |(_, s)| *s);
    stps.iter()
        .any(|s| *s == "*" || trial.contains(&format!("/{s}/")))
}

fn cell(fault: &str, trial: &str, outcome: &Outcome) -> Cell {
    let message = |m: &str| m.lines().next().unwrap_or("").to_string();
    match outcome {
        Outcome::Passed => Cell::Passed,
        Outcome::Failed(m) | Outcome::Error(m) | Outcome::Skipped(m) => {
            if concerns(fault, trial) {
                Cell::Caught(message(m))
            } else {
                Cell::FalseAlarm(message(m))
            }
        }
    }
}

fn render(matrix: &BTreeMap<String, BTreeMap<String, Cell>>) -> String {
    let mut out = String::from(
        "| fault | caught | passed | false alarms | first catch |\n|---|---|---|---|---|\n",
    );
    for (fault, cells) in matrix {
        let count = |f: fn(&Cell) -> bool| cells.values().filter(|c| f(c)).count();
        let first = cells.iter().find_map(|(t, c)| match c {
            Cell::Caught(m) => Some(format!("{t}: {m}")),
            _ => None,
        });
        out += &format!(
            "| {} | {} | {} | {} | {} |\n",
            if fault.is_empty() { "(none)" } else { fault },
            count(|c| matches!(c, Cell::Caught(_))),
            count(|c| matches!(c, Cell::Passed)),
            count(|c| matches!(c, Cell::FalseAlarm(_))),
            first.unwrap_or_default().replace('|', "/")
        );
    }
    out
}

#[test]
#[ignore = "issue 8: not yet stable enough for every CI run (one false alarm in ~300 scenario runs, an SSH login refused under load); run with `cargo test --test fault_matrix -- --ignored`"]
fn every_regression_is_caught_and_no_infrastructure_fault_raises_an_alarm() {
    let mut faults = vec![String::new()];
    faults.extend(
        vstp_sim::faults::CATALOGUE
            .iter()
            .map(|f| f.name.to_string()),
    );
    let mut matrix: BTreeMap<String, BTreeMap<String, Cell>> = BTreeMap::new();
    for batch in faults.chunks(AT_ONCE) {
        let runs: Vec<_> = batch
            .iter()
            .map(|f| {
                let f = f.clone();
                std::thread::spawn(move || (f.clone(), run(&f)))
            })
            .collect();
        for handle in runs {
            let (fault, outcomes) = handle.join().expect("a catalogue run panicked");
            let cells = outcomes
                .iter()
                .map(|(t, o)| (t.clone(), cell(&fault, t, o)))
                .collect();
            matrix.insert(fault, cells);
        }
    }
    let table = render(&matrix);
    println!("{table}");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let _ = std::fs::write(target.join("vstp-fault-matrix.md"), &table);
    let mut problems = Vec::new();
    for (fault, cells) in &matrix {
        for (trial, c) in cells {
            if let Cell::FalseAlarm(m) = c {
                problems.push(format!("{fault:?} made {trial} fail: {m}"));
            }
        }
        let product = vstp_sim::faults::CATALOGUE
            .iter()
            .any(|f| f.name == fault && f.kind == vstp_sim::faults::Kind::Product);
        if product && !cells.values().any(|c| matches!(c, Cell::Caught(_))) {
            problems.push(format!("no scenario catches {fault}"));
        }
    }
    assert!(problems.is_empty(), "{}\n{table}", problems.join("\n"));
}

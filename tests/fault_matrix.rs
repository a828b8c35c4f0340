//! The fault matrix: the whole catalogue against a clean simulator, against each product
//! regression of vstp-sim's fault catalogue, and against each infrastructure fault. A clean
//! or infrastructure run must pass everywhere and leave nothing behind; each regression must
//! be caught by at least one scenario, and only by scenarios of the STPs it concerns. The
//! matrix is printed and saved to `target/vstp-fault-matrix.md`; the artifacts of a run that
//! raised a false alarm or left something behind are kept in `target/vstp-fault-matrix/`.
//! `VSTP_MATRIX_FAULTS=a,b` runs only those rows (`clean` for the run without a fault).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vstp::runner::{Outcome, Run, RunConfig};

mod support;

/// STP files whose scenarios may fail under each product regression (`*` = any).
const CONCERNS: &[(&str, &[&str])] = &[
    (
        "reboot-on-nad-swap",
        &["live-update-nad-ref", "nic-hotplug"],
    ),
    ("mac-regenerated", &["live-update-nad-ref", "nic-hotplug"]),
    ("old-vlan-still-reachable", &["live-update-nad-ref"]),
    ("target-keeps-old-nad", &["live-update-nad-ref"]),
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
    ("hotplugged-nic-missing", &["nic-hotplug"]),
    ("unplugged-nic-stays", &["nic-hotplug"]),
    ("udn-ip-changes", &["primary-udn-migration"]),
    ("migration-resets-tcp", &["primary-udn-migration"]),
    ("non-migratable-changed-live", &["live-update-nad-ref"]),
    ("nic-hotplug-skips-migration", &["nic-hotplug"]),
    ("memory-never-onlined", &["workload-disruption-migration"]),
    // Every STP confirms a migration by the VMI's node.
    (
        "migration-stays-on-node",
        &[
            "live-update-nad-ref",
            "workload-disruption-migration",
            "nic-hotplug",
            "primary-udn-migration",
        ],
    ),
    // Every STP migrates a VM somewhere; the migration fails and the VM restarts.
    ("launcher-pod-killed", &["*"]),
];

/// Catalogue runs at once: scenarios mostly wait on the simulated clock, but SSH handshakes
/// cost CPU, and a 2-core CI machine must not starve them.
const AT_ONCE: usize = 2;

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Passed,
    Caught(String),
    FalseAlarm(String),
}

/// One catalogue run against a simulator started with one fault.
struct FaultRun {
    /// Trial name → what the run's outcome means under this fault.
    cells: BTreeMap<String, Cell>,
    /// What the run left on the cluster (it must leave nothing).
    leftovers: Vec<String>,
    /// Where its JUnit, step logs and failure diagnostics were kept, when it went wrong.
    kept: Option<PathBuf>,
}

/// Runs the whole catalogue against a simulator with `fault` (empty = none), as a cluster
/// would be run (the simulator is not the run's own), and looks for what it left.
fn run(fault: &str, seed: u64) -> FaultRun {
    let cluster = support::SimCluster::start("matrix", fault, seed);
    // Everything the cluster holds before the run, to compare with what it holds after.
    let before = cluster.snapshot();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    let planned = vstp::cli::planned_or_problems(&root).unwrap_or_else(|p| panic!("{p:?}"));
    let mut config = RunConfig::new(cluster.target(), true);
    config.junit_path = cluster.path("junit.xml");
    config.artifacts = cluster.path("artifacts");
    config.handle_signals = false;
    let args = libtest_mimic::Arguments {
        test_threads: Some(2),
        quiet: true,
        ..Default::default()
    };
    let report = Run::new(config, planned).expect("run").execute(&args);
    let cells: BTreeMap<String, Cell> = report
        .cases
        .iter()
        .map(|c| {
            let trial = c.planned.scenario.decl.trial_name();
            let cell = cell(fault, &trial, &c.outcome_now().0);
            (trial, cell)
        })
        .collect();
    let leftovers = before.changes_to(&cluster.snapshot());
    let false_alarm = cells.values().any(|c| matches!(c, Cell::FalseAlarm(_)));
    // The simulator's scratch directory goes with it; what explains a failure must stay.
    let kept = (false_alarm || !leftovers.is_empty()).then(|| {
        let to = target_dir().join("vstp-fault-matrix").join(label(fault));
        let _ = std::fs::remove_dir_all(&to);
        copy_dir(&cluster.path("artifacts"), &to);
        let _ = std::fs::copy(cluster.path("junit.xml"), to.join("junit.xml"));
        to
    });
    FaultRun {
        cells,
        leftovers,
        kept,
    }
}

fn label(fault: &str) -> &str {
    if fault.is_empty() {
        "clean"
    } else {
        fault
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::create_dir_all(to);
    for entry in std::fs::read_dir(from).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            let _ = std::fs::copy(&path, to.join(entry.file_name()));
        }
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    )
}

/// The rows to run: the clean run and every fault, or those `VSTP_MATRIX_FAULTS` names.
fn rows() -> Vec<String> {
    let mut all = vec![String::new()];
    all.extend(
        vstp_sim::faults::CATALOGUE
            .iter()
            .map(|f| f.name.to_string()),
    );
    let Ok(wanted) = std::env::var("VSTP_MATRIX_FAULTS") else {
        return all;
    };
    let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
    let unknown: Vec<&&str> = wanted
        .iter()
        .filter(|w| !all.iter().any(|f| label(f) == **w))
        .collect();
    assert!(
        unknown.is_empty(),
        "VSTP_MATRIX_FAULTS names {unknown:?}, which are not rows of the matrix; use `clean` or names from `vstp sim faults`"
    );
    all.retain(|f| wanted.contains(&label(f)));
    all
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
    // The first line, and the next when the first only introduces a list of what broke.
    let message = |m: &str| {
        let mut lines = m.lines().map(str::trim);
        let first = lines.next().unwrap_or("").to_string();
        match lines.next() {
            Some(next) if first.ends_with(':') => format!("{first} {next}"),
            _ => first,
        }
    };
    match outcome {
        Outcome::Passed => Cell::Passed,
        // The environment kept the scenario from judging: nothing was caught, and under any
        // fault (or none) that is an alarm to look at.
        Outcome::Environment(m) => {
            Cell::FalseAlarm(format!("environment, not caught: {}", message(m)))
        }
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

/// The seed of the first run (`VSTP_SIM_SEED` to repeat a matrix); each run adds its index.
fn base_seed() -> u64 {
    std::env::var("VSTP_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64 * 7919)
}

#[test]
fn every_regression_is_caught_and_no_infrastructure_fault_raises_an_alarm() {
    let faults = rows();
    let seed = base_seed();
    let _ = std::fs::remove_dir_all(target_dir().join("vstp-fault-matrix"));
    println!(
        "fault matrix: {} runs, seeds from {seed} (VSTP_SIM_SEED={seed} repeats them)",
        faults.len()
    );
    let mut matrix: BTreeMap<String, BTreeMap<String, Cell>> = BTreeMap::new();
    let mut problems = Vec::new();
    let indexed: Vec<(u64, String)> = (0..).zip(faults).collect();
    for batch in indexed.chunks(AT_ONCE) {
        let runs: Vec<_> = batch
            .iter()
            .map(|(i, f)| {
                let (f, seed) = (f.clone(), seed + i);
                std::thread::spawn(move || (f.clone(), seed, run(&f, seed)))
            })
            .collect();
        for handle in runs {
            let (fault, seed, done) = handle.join().expect("a catalogue run panicked");
            for left in done.leftovers {
                problems.push(format!("{fault:?} (seed {seed}): {left}"));
            }
            if let Some(kept) = done.kept {
                problems.push(format!(
                    "{fault:?} (seed {seed}): its artifacts and diagnostics are in {}",
                    kept.display()
                ));
            }
            matrix.insert(fault, done.cells);
        }
    }
    let table = render(&matrix);
    println!("{table}");
    let _ = std::fs::write(target_dir().join("vstp-fault-matrix.md"), &table);
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

#[test]
fn every_product_regression_says_which_stps_must_catch_it() {
    let missing: Vec<&str> = vstp_sim::faults::CATALOGUE
        .iter()
        .filter(|f| f.kind == vstp_sim::faults::Kind::Product)
        .filter(|f| !CONCERNS.iter().any(|(name, _)| *name == f.name))
        .map(|f| f.name)
        .collect();
    assert!(missing.is_empty(), "add these to CONCERNS: {missing:?}");
}

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

#[path = "matrix/catchers.rs"]
mod catchers;
#[path = "matrix/signatures.rs"]
mod signatures;

/// Catalogue runs at once: scenarios mostly wait on the simulated clock (a run keeps about a
/// third of a core busy), but SSH handshakes cost CPU, and a 2-core CI machine must not
/// starve them.
const AT_ONCE: usize = 3;

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Passed,
    /// Failed under a product regression, naming what it breaks.
    Caught(String),
    /// Did not pass under a product regression, but not by the assertion that should catch
    /// it (an error, a skip, a timeout, another invariant): a finding.
    WrongReason(String),
    /// Did not pass without a product regression.
    FalseAlarm(String),
}

/// One catalogue run against a simulator started with one fault.
struct FaultRun {
    /// Trial name → what the run's outcome means under this fault.
    cells: BTreeMap<String, Cell>,
    /// What the run left on the cluster (it must leave nothing).
    leftovers: Vec<String>,
    /// Trial name → the outcome of every trial that did not pass, in full.
    outcomes: BTreeMap<String, String>,
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
            let cell = cell(fault, &c.outcome_now().0);
            (trial, cell)
        })
        .collect();
    let leftovers = before.changes_to(&cluster.snapshot());
    let outcomes = report
        .cases
        .iter()
        .filter(|c| c.outcome_now().0 != Outcome::Passed)
        .map(|c| {
            (
                c.planned.scenario.decl.trial_name(),
                format!("{:?}", c.outcome_now().0),
            )
        })
        .collect();
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
        outcomes,
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

fn cell(fault: &str, outcome: &Outcome) -> Cell {
    // The first line, and the next when the first only introduces a list of what broke.
    let message = |m: &str| {
        let mut lines = m.lines().map(str::trim);
        let first = lines.next().unwrap_or("").to_string();
        match lines.next() {
            Some(next) if first.ends_with(':') => format!("{first} {next}"),
            _ => first,
        }
    };
    let signatures = signatures::of(fault);
    match outcome {
        Outcome::Passed => Cell::Passed,
        _ if signatures.is_none() => Cell::FalseAlarm(message(&outcome_text(outcome))),
        Outcome::Failed(m) if signatures.is_some_and(|s| s.iter().any(|s| m.contains(s))) => {
            Cell::Caught(message(m))
        }
        other => Cell::WrongReason(message(&outcome_text(other))),
    }
}

/// An outcome as one text, its kind first: `Error: …`, `Skipped: …`.
fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Passed => "passed".into(),
        Outcome::Failed(m) => format!("failed: {m}"),
        Outcome::Error(m) => format!("error: {m}"),
        Outcome::Skipped(m) => format!("skipped: {m}"),
        Outcome::Environment(m) => format!("environment: {m}"),
    }
}

fn render(matrix: &BTreeMap<String, BTreeMap<String, Cell>>) -> String {
    let mut out = String::from(
        "| fault | caught | passed | wrong reason | false alarms | first catch |\n|---|---|---|---|---|---|\n",
    );
    for (fault, cells) in matrix {
        let count = |f: fn(&Cell) -> bool| cells.values().filter(|c| f(c)).count();
        let first = cells.iter().find_map(|(t, c)| match c {
            Cell::Caught(m) => Some(format!("{t}: {m}")),
            _ => None,
        });
        out += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            if fault.is_empty() { "(none)" } else { fault },
            count(|c| matches!(c, Cell::Caught(_))),
            count(|c| matches!(c, Cell::Passed)),
            count(|c| matches!(c, Cell::WrongReason(_))),
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

/// Runs the catalogue once per fault, [`AT_ONCE`] at a time, each starting as soon as one
/// ends; the fault of row `i` gets seed `seed + i`. In row order.
fn run_all(faults: Vec<String>, seed: u64) -> Vec<(String, u64, FaultRun)> {
    let rows: Vec<(String, u64)> = faults.into_iter().zip(seed..).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..AT_ONCE {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((fault, seed)) = rows.get(i) else {
                    return;
                };
                let finished = run(fault, *seed);
                let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
                done.push((i, fault.clone(), *seed, finished));
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, ..)| *i);
    done.into_iter().map(|(_, f, s, r)| (f, s, r)).collect()
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
    let mut outcomes_dump = String::new();
    for (fault, seed, done) in run_all(faults, seed) {
        for left in done.leftovers {
            problems.push(format!("{fault:?} (seed {seed}): {left}"));
        }
        if let Some(kept) = done.kept {
            problems.push(format!(
                "{fault:?} (seed {seed}): its artifacts and diagnostics are in {}",
                kept.display()
            ));
        }
        for (trial, outcome) in &done.outcomes {
            let line = outcome.replace(['\n', '\t'], " ");
            outcomes_dump.push_str(&format!("{}\t{trial}\t{line}\n", label(&fault)));
        }
        matrix.insert(fault, done.cells);
    }
    let table = render(&matrix);
    println!("{table}");
    let _ = std::fs::write(target_dir().join("vstp-fault-matrix.md"), &table);
    let _ = std::fs::write(
        target_dir().join("vstp-fault-matrix-outcomes.tsv"),
        &outcomes_dump,
    );
    let mut caught = catchers::Catchers::new();
    for (fault, cells) in &matrix {
        for (trial, c) in cells {
            match c {
                Cell::FalseAlarm(m) => problems.push(format!("{fault:?} made {trial} fail: {m}")),
                Cell::WrongReason(m) => problems.push(format!(
                    "{fault} ended {trial} without the assertion that names it ({:?}): {m}",
                    signatures::of(fault).unwrap_or_default()
                )),
                _ => {}
            }
        }
        if signatures::of(fault).is_some() {
            let by: std::collections::BTreeSet<String> = cells
                .iter()
                .filter(|(_, c)| matches!(c, Cell::Caught(_)))
                .map(|(t, _)| t.clone())
                .collect();
            if by.is_empty() {
                problems.push(format!("no scenario catches {fault}"));
            }
            caught.insert(fault.clone(), by);
        }
    }
    let mut all_caught = catchers::committed().unwrap_or_default();
    all_caught.extend(caught.clone());
    let regenerated = target_dir().join("vstp-fault-matrix-catchers.tsv");
    let _ = std::fs::write(&regenerated, catchers::render(&all_caught));
    match catchers::committed() {
        Ok(committed) => {
            let (lost, gained) = catchers::compare(&committed, &caught);
            for note in &gained {
                println!(
                    "note: {note} (update the table: cp {} {})",
                    regenerated.display(),
                    catchers::committed_path().display()
                );
            }
            problems.extend(lost.into_iter().map(|l| {
                format!(
                    "{l}; if that is on purpose, cp {} {}",
                    regenerated.display(),
                    catchers::committed_path().display()
                )
            }));
        }
        Err(e) => problems.push(e),
    }
    assert!(problems.is_empty(), "{}\n{table}", problems.join("\n"));
}

#[test]
fn every_product_regression_names_the_assertion_that_catches_it() {
    let missing: Vec<&str> = vstp_sim::faults::CATALOGUE
        .iter()
        .filter(|f| f.kind == vstp_sim::faults::Kind::Product)
        .filter(|f| signatures::of(f.name).is_none_or(|s| s.is_empty()))
        .map(|f| f.name)
        .collect();
    assert!(
        missing.is_empty(),
        "add these to tests/matrix/signatures.rs: {missing:?}"
    );
    let infra_with_signature: Vec<&str> = vstp_sim::faults::CATALOGUE
        .iter()
        .filter(|f| f.kind == vstp_sim::faults::Kind::Infra && signatures::of(f.name).is_some())
        .map(|f| f.name)
        .collect();
    assert!(
        infra_with_signature.is_empty(),
        "infrastructure faults must not be caught: {infra_with_signature:?}"
    );
    let committed = catchers::committed().unwrap_or_else(|e| panic!("{e}"));
    let without: Vec<&str> = vstp_sim::faults::CATALOGUE
        .iter()
        .filter(|f| f.kind == vstp_sim::faults::Kind::Product && !committed.contains_key(f.name))
        .map(|f| f.name)
        .collect();
    assert!(
        without.is_empty(),
        "tests/matrix/catchers.tsv lists no catcher for {without:?}"
    );
}

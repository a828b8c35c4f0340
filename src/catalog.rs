//! Plan rows joined with the scenario registry: what is automated, pending, manual or missing,
//! and which declarations point nowhere. Knows nothing of Kubernetes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::plan::{Declaration, ManualRow};
use crate::stp::{self, is_valid_id, Plan, Row, StpError};

/// How one STP row is covered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Coverage {
    /// Trial names of the automated scenarios.
    Automated {
        trials: Vec<String>,
    },
    /// Declared scenarios not written yet (trial names), with the first reason.
    Pending {
        trials: Vec<String>,
        reason: String,
    },
    Manual {
        reason: String,
    },
    Missing,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// STP path relative to the STP root, e.g. `sig-network/nic-hotplug.md`.
    pub stp: String,
    pub row: Row,
    pub coverage: Coverage,
}

/// Everything the join found wrong; each is a reason for `coverage` and the catalogue test to fail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum Problem {
    RowWithoutTest(String),
    TestWithoutRow(String),
    BadDeclaration(String),
    Stp(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (label, message) = match self {
            Problem::RowWithoutTest(m) => ("row without test", m),
            Problem::TestWithoutRow(m) => ("test without row", m),
            Problem::BadDeclaration(m) => ("bad declaration", m),
            Problem::Stp(m) => ("STP error", m),
        };
        write!(f, "{label}: {message}")
    }
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Catalog {
    pub entries: Vec<Entry>,
    pub problems: Vec<Problem>,
}

impl Catalog {
    pub fn pending(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.coverage, Coverage::Pending { .. }))
    }

    /// `coverage --strict`: a row only declared, not automated, fails it.
    pub fn strict_verdict(&self) -> Result<(), String> {
        match self.pending().count() {
            0 => Ok(()),
            n => Err(format!("--strict: {n} row(s) are pending, not automated")),
        }
    }
}

/// Every `*.md` below `root`, sorted, as (path relative to root with `/`, full path).
pub fn stp_files(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>();
                found.push((rel.join("/"), path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Parses every STP below `root` and joins it with the declarations.
pub fn load(root: &Path, scenarios: &[Declaration], manual: &[ManualRow]) -> Catalog {
    let mut plans = BTreeMap::new();
    let mut problems = Vec::new();
    match stp_files(root) {
        Ok(files) => {
            for (rel, path) in files {
                match stp::parse_file(&path) {
                    Ok(plan) => {
                        plans.insert(rel, plan);
                    }
                    Err(errors) => problems.extend(
                        errors
                            .iter()
                            .map(|e: &StpError| Problem::Stp(e.to_string())),
                    ),
                }
            }
        }
        Err(e) => problems.push(Problem::Stp(format!(
            "cannot read the STP folder {}: {e}; pass --stps DIR or run from the repository",
            root.display()
        ))),
    }
    let mut catalog = join(&plans, scenarios, manual);
    problems.append(&mut catalog.problems);
    catalog.problems = problems;
    catalog
}

/// The join itself, on already parsed plans keyed by their path relative to the STP root.
pub fn join(
    plans: &BTreeMap<String, Plan>,
    scenarios: &[Declaration],
    manual: &[ManualRow],
) -> Catalog {
    let mut problems = declaration_problems(scenarios);
    for s in scenarios {
        if let Some(problem) = row_mismatch(plans, s.stp, s.row, s.row_ids) {
            problems.push(Problem::TestWithoutRow(format!(
                "scenario {}: {problem}",
                s.trial_name()
            )));
        }
    }
    for m in manual {
        if let Some(problem) = row_mismatch(plans, m.stp, m.row, m.row_ids) {
            problems.push(Problem::TestWithoutRow(format!(
                "manual row {}#{}: {problem}",
                m.stp, m.row
            )));
        }
    }
    let mut entries = Vec::new();
    for (rel, plan) in plans {
        for row in &plan.rows {
            let here: Vec<&Declaration> = scenarios
                .iter()
                .filter(|s| s.stp == rel && s.row == row.index)
                .collect();
            let manual_reason = manual
                .iter()
                .find(|m| m.stp == rel && m.row == row.index)
                .map(|m| m.reason);
            let coverage = coverage_of(&here, manual_reason);
            if coverage == Coverage::Missing {
                problems.push(Problem::RowWithoutTest(format!(
                    "{}:{} [{}] has neither a scenario nor a manual reason; declare one in src/scenarios/ or list it as manual",
                    row.file.display(),
                    row.line,
                    row.ids.join(", ")
                )));
            }
            if manual_reason.is_some() && !here.is_empty() {
                problems.push(Problem::BadDeclaration(format!(
                    "{}:{} is declared manual but also has scenarios",
                    row.file.display(),
                    row.line
                )));
            }
            entries.push(Entry {
                stp: rel.clone(),
                row: row.clone(),
                coverage,
            });
        }
    }
    Catalog { entries, problems }
}

fn coverage_of(here: &[&Declaration], manual_reason: Option<&str>) -> Coverage {
    let trials = |pred: fn(&Declaration) -> bool| -> Vec<String> {
        here.iter()
            .filter(|s| pred(s))
            .map(|s| s.trial_name())
            .collect()
    };
    if let Some(reason) = here.iter().find_map(|s| s.pending) {
        return Coverage::Pending {
            trials: trials(|s| s.pending.is_some()),
            reason: reason.into(),
        };
    }
    if !here.is_empty() {
        return Coverage::Automated {
            trials: trials(|_| true),
        };
    }
    match manual_reason {
        Some(reason) => Coverage::Manual {
            reason: reason.into(),
        },
        None => Coverage::Missing,
    }
}

/// Why a declaration's (stp, row, ids) does not point at a real row, if it does not.
fn row_mismatch(
    plans: &BTreeMap<String, Plan>,
    stp: &str,
    row: usize,
    ids: &[&str],
) -> Option<String> {
    let Some(plan) = plans.get(stp) else {
        return Some(format!("no STP stps/{stp}"));
    };
    let Some(found) = plan.rows.iter().find(|r| r.index == row) else {
        return Some(format!(
            "stps/{stp} has {} rows, not a row {row}",
            plan.rows.len()
        ));
    };
    let declared: BTreeSet<&str> = ids.iter().copied().collect();
    let written: BTreeSet<&str> = found.ids.iter().map(String::as_str).collect();
    (declared != written).then(|| {
        format!(
            "row {row} of stps/{stp} (line {}) has IDs [{}] but the declaration says [{}]; \
             did the STP rows move?",
            found.line,
            found.ids.join(", "),
            ids.join(", ")
        )
    })
}

fn declaration_problems(scenarios: &[Declaration]) -> Vec<Problem> {
    let mut problems = polarion_problems(scenarios);
    let mut names = BTreeSet::new();
    for s in scenarios {
        let name = s.trial_name();
        if !names.insert(name.clone()) {
            problems.push(Problem::BadDeclaration(format!(
                "two scenarios share the trial name {name}"
            )));
        }
        let ids: Vec<&str> = s.all_ids().collect();
        for (i, id) in ids.iter().enumerate() {
            if !is_valid_id(id) {
                problems.push(Problem::BadDeclaration(format!(
                    "{name}: malformed ID `{id}`"
                )));
            } else if ids[..i].contains(id) {
                problems.push(Problem::BadDeclaration(format!(
                    "{name}: ID `{id}` declared twice"
                )));
            }
        }
        let slug_ok = !s.slug.is_empty()
            && s.slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !slug_ok {
            problems.push(Problem::BadDeclaration(format!(
                "{name}: slug `{}` must be lower-case letters, digits and dashes",
                s.slug
            )));
        }
    }
    problems
}

/// A Polarion test case and the parameters of one run of it.
type PolarionRun<'a> = (&'a str, Vec<(&'a str, &'a str)>);

/// Polarion's importer maps a `<testcase>` to a test case by ID, and runs of one test case by
/// their parameters: two scenarios reporting the same ID with the same parameters would record
/// one result over the other.
fn polarion_problems(scenarios: &[Declaration]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut reported: BTreeMap<PolarionRun, String> = BTreeMap::new();
    for s in scenarios {
        let name = s.trial_name();
        for (param, value) in s.parameters {
            let param_ok = !param.is_empty()
                && param
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !param_ok || value.trim().is_empty() {
                problems.push(Problem::BadDeclaration(format!(
                    "{name}: Polarion parameter `{param}` = `{value}`: the name is lower-case \
                     letters, digits and `_`, the value not empty"
                )));
            }
        }
        let mut parameters = s.parameters.to_vec();
        parameters.sort();
        for id in s.polarion_ids() {
            if let Some(first) = reported.insert((id, parameters.clone()), name.clone()) {
                problems.push(Problem::BadDeclaration(format!(
                    "{first} and {name} both report Polarion test case {id} with the same \
                     parameters {parameters:?}: tell them apart with `.parameters(&[(\"name\", \
                     \"value\")])`, or give one its own test case with `.tests(&[…])`"
                )));
            }
        }
    }
    problems
}

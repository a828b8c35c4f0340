//! Plan rows joined with the scenario registry: what is automated, pending, manual or missing,
//! and which declarations point nowhere. Knows nothing of Kubernetes.
//!
//! The tree may be the project's `stps/` or a checkout of the repository QE publishes its STPs
//! in: STPs no scenario touches are listed as not in this catalogue, and scenarios whose STP is
//! not in the tree are listed as elsewhere; neither is a problem. What is checked is every STP
//! the catalogue automates: each of its rows covered, each declaration's IDs as the row says.

mod declarations;
mod model;
mod tree;

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::{Declaration, ManualRow};
use crate::stp::{Plan, Row};

pub use model::{Catalog, Coverage, Entry, Lint, Problem};
pub use tree::{stp_files, stp_root};

/// Parses every STP below `root` (or below `root/stps`) and joins it with the declarations.
pub fn load(root: &std::path::Path, scenarios: &[Declaration], manual: &[ManualRow]) -> Catalog {
    let named: BTreeSet<&str> = scenarios
        .iter()
        .map(|s| s.stp)
        .chain(manual.iter().map(|m| m.stp))
        .collect();
    let mut tree = tree::read(root, &named);
    let mut catalog = join(&tree.plans, scenarios, manual);
    tree.problems.append(&mut catalog.problems);
    catalog.problems = tree.problems;
    catalog.lints.append(&mut tree.unread);
    catalog
}

/// The join itself, on already parsed plans keyed by their path relative to the STP root.
pub fn join(
    plans: &BTreeMap<String, Plan>,
    scenarios: &[Declaration],
    manual: &[ManualRow],
) -> Catalog {
    let mut catalog = Catalog {
        problems: declarations::problems(scenarios),
        ..Catalog::default()
    };
    let mut touched = BTreeSet::new();
    let pointers = scenarios
        .iter()
        .map(|s| {
            (
                s.stp,
                s.row,
                s.row_ids,
                format!("scenario {}", s.trial_name()),
            )
        })
        .chain(manual.iter().map(|m| {
            (
                m.stp,
                m.row,
                m.row_ids,
                format!("manual row {}#{}", m.stp, m.row),
            )
        }));
    for (stp, row, ids, what) in pointers {
        let Some(plan) = plans.get(stp) else {
            catalog.elsewhere.push(format!("{what} (stps/{stp})"));
            continue;
        };
        touched.insert(stp);
        if let Some(problem) = row_mismatch(stp, plan, row, ids) {
            catalog
                .problems
                .push(Problem::TestWithoutRow(format!("{what}: {problem}")));
        }
    }
    for (rel, plan) in plans {
        let automated_here = touched.contains(rel.as_str());
        catalog.lints.extend(plan.lints.iter().map(|l| Lint {
            stp: rel.clone(),
            automated_here,
            message: l.to_string(),
        }));
        for row in &plan.rows {
            let coverage = if automated_here {
                cover_row(&mut catalog.problems, rel, row, scenarios, manual)
            } else {
                Coverage::NotInCatalogue
            };
            catalog.entries.push(Entry {
                stp: rel.clone(),
                row: row.clone(),
                coverage,
            });
        }
    }
    catalog
}

/// How a row of an STP this catalogue automates is covered; a row with neither a scenario nor
/// a manual reason, or with both, is a problem.
fn cover_row(
    problems: &mut Vec<Problem>,
    rel: &str,
    row: &Row,
    scenarios: &[Declaration],
    manual: &[ManualRow],
) -> Coverage {
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
    coverage
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

/// Why a declaration's (row, ids) does not point at a real row of `plan`, if it does not.
fn row_mismatch(stp: &str, plan: &Plan, row: usize, ids: &[&str]) -> Option<String> {
    let Some(found) = plan.rows.iter().find(|r| r.index == row) else {
        return Some(format!(
            "{stp} ({}) has {} rows, not a row {row}",
            plan.file.display(),
            plan.rows.len()
        ));
    };
    let declared: BTreeSet<&str> = ids.iter().copied().collect();
    let written: BTreeSet<&str> = found.ids.iter().map(String::as_str).collect();
    (declared != written).then(|| {
        format!(
            "row {row} of {} (line {}) has IDs [{}] but the declaration says [{}]; \
             did the STP rows move?",
            plan.file.display(),
            found.line,
            found.ids.join(", "),
            ids.join(", ")
        )
    })
}

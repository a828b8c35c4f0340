//! Choosing which scenarios run: by ID, trial name, tier, priority and SIG.

use crate::catalog::Catalog;
use crate::scenarios::Scenario;
use crate::stp::{Priority, Row};

/// A scenario with the STP row it automates.
#[derive(Clone)]
pub struct Planned {
    pub scenario: Scenario,
    pub row: Row,
}

impl Planned {
    pub fn tier(&self) -> Option<u8> {
        self.row.tier
    }
    pub fn priority(&self) -> Option<Priority> {
        self.row.priority
    }
}

/// Pairs each declared scenario with its row; scenarios without a row are left out (the
/// catalogue reports them as problems).
pub fn plan(catalog: &Catalog, scenarios: &[Scenario]) -> Vec<Planned> {
    scenarios
        .iter()
        .filter_map(|s| {
            let entry = catalog
                .entries
                .iter()
                .find(|e| e.stp == s.decl.stp && e.row.index == s.decl.row)?;
            Some(Planned {
                scenario: s.clone(),
                row: entry.row.clone(),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// IDs (requirement or Polarion), full trial names, or trial-name prefixes ending at a `/`.
    pub ids: Vec<String>,
    pub tier: Option<u8>,
    pub priority: Option<Priority>,
    pub sig: Option<String>,
}

/// A selection that chose nothing, or named something unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoMatch {
    pub message: String,
}

impl std::fmt::Display for NoMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NoMatch {}

/// Does `token` name this scenario: one of its IDs, its trial name, or a prefix of it at `/`?
pub fn names(token: &str, planned: &Planned) -> bool {
    let name = planned.scenario.decl.trial_name();
    planned
        .scenario
        .decl
        .all_ids()
        .any(|id| id.eq_ignore_ascii_case(token))
        || name == token
        || (name.starts_with(token)
            && (token.ends_with('/') || name[token.len()..].starts_with('/')))
}

pub fn select(all: &[Planned], selection: &Selection) -> Result<Vec<Planned>, NoMatch> {
    for token in &selection.ids {
        if !all.iter().any(|p| names(token, p)) {
            return Err(NoMatch {
                message: format!(
                    "no scenario answers to `{token}`; closest IDs: {}. `vstp list` shows them all",
                    closest_ids(all, token).join(", ")
                ),
            });
        }
    }
    let chosen: Vec<Planned> = all
        .iter()
        .filter(|p| selection.ids.is_empty() || selection.ids.iter().any(|t| names(t, p)))
        .filter(|p| selection.tier.is_none() || p.tier() == selection.tier)
        .filter(|p| selection.priority.is_none() || p.priority() == selection.priority)
        .filter(|p| {
            selection
                .sig
                .as_deref()
                .is_none_or(|sig| p.scenario.decl.sig() == sig)
        })
        .cloned()
        .collect();
    if chosen.is_empty() {
        return Err(NoMatch {
            message: format!("the selection {selection:?} matches no scenario; `vstp list` shows tiers, priorities and SIGs"),
        });
    }
    Ok(chosen)
}

/// The three known IDs most similar to `token`.
pub fn closest_ids(all: &[Planned], token: &str) -> Vec<String> {
    let mut ids: Vec<&str> = all.iter().flat_map(|p| p.scenario.decl.all_ids()).collect();
    ids.sort();
    ids.dedup();
    let upper = token.to_ascii_uppercase();
    let mut scored: Vec<(f64, &str)> = ids
        .into_iter()
        .map(|id| (strsim::normalized_levenshtein(&upper, id), id))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(3)
        .map(|(_, id)| id.to_string())
        .collect()
}

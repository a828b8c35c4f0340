//! What can be wrong with the declarations themselves, whatever the STPs say.

use std::collections::{BTreeMap, BTreeSet};

use super::model::Problem;
use crate::plan::Declaration;
use crate::stp::is_valid_id;

pub(super) fn problems(scenarios: &[Declaration]) -> Vec<Problem> {
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

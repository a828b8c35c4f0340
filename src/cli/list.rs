//! `vstp list`

use std::path::Path;

use super::{exit, load_catalog, opt, table};
use crate::catalog::Coverage;
use crate::scenarios;

pub fn main(root: &Path) -> u8 {
    let catalog = load_catalog(root);
    let all = scenarios::declarations();
    let mut rows = Vec::new();
    for entry in &catalog.entries {
        let here: Vec<_> = all
            .iter()
            .filter(|s| s.stp == entry.stp && s.row == entry.row.index)
            .collect();
        let base = |id: String, trial: String, os: String, status: String| {
            vec![
                id,
                trial,
                opt(entry.row.tier, "T"),
                opt(entry.row.priority, ""),
                os,
                status,
            ]
        };
        if here.is_empty() {
            let status = match &entry.coverage {
                Coverage::Manual { reason } => format!("manual: {reason}"),
                Coverage::NotInCatalogue => "not in this catalogue".into(),
                _ => "missing".into(),
            };
            rows.push(base(
                entry.row.ids.join(","),
                format!("stps/{}:{}", entry.stp, entry.row.line),
                "-".into(),
                status,
            ));
        }
        for s in here {
            let status = s
                .pending
                .map_or("automated".into(), |_| "pending".to_string());
            rows.push(base(
                s.all_ids().collect::<Vec<_>>().join(","),
                s.trial_name(),
                format!("{:?}", s.os),
                status,
            ));
        }
    }
    print!(
        "{}",
        table(
            &["IDS", "SCENARIO", "TIER", "PRIORITY", "OS", "STATUS"],
            &rows
        )
    );
    for lint in &catalog.lints {
        eprintln!("vstp: warning: {}", lint.message);
    }
    for problem in &catalog.problems {
        eprintln!("vstp: {problem}");
    }
    if catalog.problems.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    }
}

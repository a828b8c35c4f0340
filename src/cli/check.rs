//! `vstp stp check FILE... [--format json]`: the rows as read, and every lint (what a row lacks
//! or got wrong, by file:line); lints fail the check, since this is the linter.

use std::path::PathBuf;

use super::{exit, opt};
use crate::stp;

#[derive(clap::Args)]
pub struct Args {
    /// STP markdown files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn main(args: &Args) -> u8 {
    let mut rows = Vec::new();
    let mut failed = false;
    for file in &args.files {
        match stp::parse_file(file) {
            Ok(plan) => {
                failed |= !plan.lints.is_empty();
                for lint in &plan.lints {
                    eprintln!("{lint}");
                }
                rows.extend(plan.rows)
            }
            Err(errors) => {
                failed = true;
                for e in errors {
                    eprintln!("{e}");
                }
            }
        }
    }
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
        ),
        Format::Text => {
            for r in &rows {
                println!(
                    "{}:{}  [{}]  {}  {}\n    story:    {}\n    scenario: {}",
                    r.file.display(),
                    r.line,
                    r.ids.join(", "),
                    opt(r.tier, "Tier "),
                    opt(r.priority, ""),
                    r.story,
                    r.scenario
                );
            }
        }
    }
    if failed {
        exit::FAILED
    } else {
        exit::OK
    }
}

//! The `cargo test --test e2e` entry: libtest-mimic arguments plus vstp's target options.
//!
//! A positional filter that looks like an ID (`CNV-15972`) or a trial path (`sig-network/…`) is
//! resolved by vstp, so every ID of a scenario selects it and a typo fails with the closest IDs.
//! A plain word stays a libtest substring filter, because `cargo test WORD` hands the same word
//! to every test target. `--exact NAME` (what nextest sends) is left to libtest-mimic.

use std::process::ExitCode;

use clap::Parser;

use super::{default_stp_root, exit, planned_or_problems};
use crate::cluster::{settings, TargetOptions};
use crate::runner::select::{self, Selection};
use crate::runner::{Run, RunConfig};
use crate::stp::is_valid_id;

#[derive(Parser)]
#[command(name = "e2e")]
struct E2eCli {
    #[command(flatten)]
    mimic: libtest_mimic::Arguments,
    #[command(flatten)]
    target: TargetOptions,
    /// Allow disruptive scenarios on a real cluster (env VSTP_ALLOW_DISRUPTIVE=1).
    #[arg(long, env = "VSTP_ALLOW_DISRUPTIVE")]
    allow_disruptive: bool,
}

fn resolved_by_vstp(filter: &str) -> bool {
    is_valid_id(&filter.to_ascii_uppercase()) || filter.contains('/')
}

pub fn main() -> ExitCode {
    let mut cli = E2eCli::parse();
    let all = match planned_or_problems(&default_stp_root()) {
        Ok(all) => all,
        Err(problems) => {
            for p in problems {
                eprintln!("vstp: {p}");
            }
            return ExitCode::from(exit::USAGE);
        }
    };
    let mut chosen = all.clone();
    if let Some(filter) = cli
        .mimic
        .filter
        .clone()
        .filter(|f| !cli.mimic.exact && resolved_by_vstp(f))
    {
        match select::select(
            &all,
            &Selection {
                ids: vec![filter],
                ..Selection::default()
            },
        ) {
            Ok(found) => chosen = found,
            Err(no_match) => {
                eprintln!("vstp: {no_match}");
                return ExitCode::from(exit::USAGE);
            }
        }
        cli.mimic.filter = None;
    }
    let mut config = RunConfig::new(cli.target.clone(), cli.allow_disruptive);
    match settings::load(cli.target.settings.as_deref()) {
        Ok(settings) => config.polarion = settings.polarion,
        Err(e) => {
            eprintln!("vstp: {e}");
            return ExitCode::from(exit::USAGE);
        }
    }
    let run = match Run::new(config, chosen.clone()) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("vstp: cannot start the run: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    if cli.mimic.test_threads.is_none() {
        // Listing never connects: its thread count does not matter.
        let threads = if cli.mimic.list {
            1
        } else {
            run.default_threads()
        };
        cli.mimic.test_threads = Some(threads);
    }
    if cli.mimic.list {
        // stdout must hold only the list (nextest parses it); the reasons go to stderr.
        for p in &chosen {
            if let Some(reason) = p.scenario.decl.pending {
                eprintln!(
                    "pending, runs as ignored: {} ({reason})",
                    p.scenario.decl.trial_name()
                );
            }
        }
    }
    let report = run.execute(&cli.mimic);
    crate::guest::key::remove_all();
    if cli.mimic.list {
        return ExitCode::SUCCESS;
    }
    eprintln!("vstp: JUnit written to {}", report.junit_path.display());
    ExitCode::from(super::run::exit_code(&report))
}

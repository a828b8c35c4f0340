//! The `vstp` command line. `main.rs` only calls [`main`]; the e2e test target reuses [`e2e`].

mod check;
mod cleanup;
mod coverage;
pub mod e2e;
mod list;
mod preflight;
mod run;
mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::catalog::{self, Catalog, Problem};
use crate::runner::select::{self, Planned};
use crate::scenarios;

/// Exit codes, shared by every command (also listed in the README).
pub mod exit {
    /// Everything selected passed, or was skipped with a reason.
    pub const OK: u8 = 0;
    /// A scenario failed, a lint found errors, or coverage has problems.
    pub const FAILED: u8 = 1;
    /// The command line was wrong: unknown flag, unknown ID, empty selection, broken catalogue.
    pub const USAGE: u8 = 2;
    /// Interrupted by SIGINT (SIGTERM gives 143); JUnit was still written.
    pub const INTERRUPTED: u8 = 130;
}

const EXIT_CODES: &str = "Exit codes: 0 passed (or skipped with a reason), 1 a scenario failed / \
lint or coverage errors, 2 usage error (unknown flag or ID, empty selection, broken catalogue), \
130 interrupted by SIGINT, 143 by SIGTERM.";

#[derive(Parser)]
#[command(name = "vstp", version, about = "Runs OpenShift Virtualization Software Test Plans as end-to-end scenarios", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub struct StpRoot {
    /// Folder holding the STPs, or a checkout of the design-docs repository that holds them
    /// below stps/ (default: the settings' `stps`, else ./stps, else the one beside vstp's
    /// sources).
    #[arg(long, env = "VSTP_STPS", global = true)]
    stps: Option<PathBuf>,
}

impl StpRoot {
    /// The tree to read. A settings file that cannot be read stops the command (exit 2): it
    /// may name the tree the user means.
    fn resolve(&self, config: Option<&std::path::Path>) -> Result<PathBuf, u8> {
        if let Some(given) = &self.stps {
            return Ok(given.clone());
        }
        match crate::cluster::settings::load(config) {
            Ok(settings) => Ok(settings.stps.unwrap_or_else(default_stp_root)),
            Err(e) => {
                eprintln!("vstp: {e}; fix the settings file, or name the STP tree with --stps DIR");
                Err(exit::USAGE)
            }
        }
    }
}

pub fn default_stp_root() -> PathBuf {
    let local = PathBuf::from("stps");
    if local.is_dir() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps")
    }
}

#[derive(Subcommand)]
enum Command {
    /// Table of every scenario: ID, trial, tier, priority, OS, automated/pending/manual.
    List {
        #[command(flatten)]
        root: StpRoot,
    },
    /// Traceability matrix of the STPs: rows without tests, tests without rows.
    Coverage(coverage::Args),
    /// Lint STP files and print their rows.
    Stp {
        #[command(subcommand)]
        command: StpCommand,
    },
    /// Run scenarios (all by default) against the simulator or a cluster.
    Run(run::Args),
    /// Check a target's prerequisites (operators, KubeVirt settings, workers, NICs) and say
    /// which scenarios would be skipped.
    Preflight(preflight::Args),
    /// Remove what crashed runs left on a cluster (namespaces, NNCPs, policies, cordons).
    Cleanup(cleanup::Args),
    /// The simulated cluster (vstp-sim).
    Sim {
        #[command(subcommand)]
        command: sim::Command,
    },
}

#[derive(Subcommand)]
enum StpCommand {
    /// Parse STP files, print their rows, and fail with file:line on malformed rows.
    Check(check::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::List { root } => root
            .resolve(None)
            .map_or_else(|code| code, |r| list::main(&r)),
        Command::Coverage(args) => coverage::main(&args),
        Command::Stp {
            command: StpCommand::Check(args),
        } => check::main(&args),
        Command::Run(args) => run::main(&args),
        Command::Cleanup(args) => cleanup::main(&args),
        Command::Preflight(args) => preflight::main(&args),
        Command::Sim { command } => sim::main(&command),
    };
    crate::guest::key::remove_all();
    ExitCode::from(code)
}

/// The catalogue of the STPs under `root` joined with the built-in registry.
pub fn load_catalog(root: &std::path::Path) -> Catalog {
    catalog::load(root, &scenarios::declarations(), scenarios::MANUAL)
}

/// Scenarios with their rows, or the problems that make running them meaningless.
pub fn planned_or_problems(root: &std::path::Path) -> Result<Vec<Planned>, Vec<Problem>> {
    let catalog = load_catalog(root);
    let blocking: Vec<Problem> = catalog
        .problems
        .iter()
        .filter(|p| !matches!(p, Problem::RowWithoutTest(_)))
        .cloned()
        .collect();
    if !blocking.is_empty() {
        return Err(blocking);
    }
    Ok(select::plan(&catalog, &scenarios::all()))
}

/// Column-aligned text table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

pub fn opt<T: ToString>(value: Option<T>, prefix: &str) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{prefix}{}", v.to_string()))
}

/// Runs a command's async part on a fresh runtime; its result is the exit code.
pub fn block_on(work: impl std::future::Future<Output = u8>) -> u8 {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("vstp: cannot start the async runtime: {e}");
            exit::FAILED
        }
    }
}

//! `vstp cleanup (--run-id ID | --older-than AGE) [--dry-run] --target cluster`

use super::exit;
use crate::cluster::sweep::{self, Leftovers};
use crate::cluster::{Target, TargetKind, TargetOptions};

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("which").required(true))]
pub struct Args {
    /// Remove everything run ID left (the ID is in the run's output, JUnit and labels).
    #[arg(long, group = "which")]
    run_id: Option<String>,
    /// Remove what runs created longer ago than AGE: 90s, 30m, 12h, 7d.
    #[arg(long, group = "which", value_parser = sweep::parse_age)]
    older_than: Option<std::time::Duration>,
    /// List what would be removed, and remove nothing (exit 1 when something is left).
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    target: TargetOptions,
}

pub fn main(args: &Args) -> u8 {
    if args.target.target == TargetKind::Sim {
        eprintln!("vstp: cleanup sweeps a cluster; the in-process simulator starts empty. Pass --target cluster (with --kubeconfig for `vstp sim serve`).");
        return exit::USAGE;
    }
    let which = match (&args.run_id, args.older_than) {
        (Some(id), _) => Leftovers::Run(id.clone()),
        (None, Some(age)) => Leftovers::OlderThan(age),
        (None, None) => unreachable!("clap requires one of them"),
    };
    super::block_on(async {
        let target = match Target::connect(&args.target).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("vstp: {e:#}");
                return exit::FAILED;
            }
        };
        if args.dry_run {
            return list_only(&target.client, &which).await;
        }
        let swept = sweep::sweep(&target.client, &which, &target.budgets).await;
        for dir in crate::guest::key::remove_leftovers(args.run_id.as_deref(), args.older_than) {
            println!("removed the SSH key directory {}", dir.display());
        }
        for what in &swept.removed {
            println!("removed {what}");
        }
        if swept.removed.is_empty() {
            println!("nothing to remove for {which:?}");
        }
        for problem in &swept.problems {
            eprintln!("vstp: {problem}");
        }
        if swept.problems.is_empty() {
            exit::OK
        } else {
            exit::FAILED
        }
    })
}

async fn list_only(client: &kube::Client, which: &Leftovers) -> u8 {
    let found = sweep::find(client, which).await;
    let left = found.describe();
    for what in &left {
        println!("would remove {what}");
    }
    for problem in &found.problems {
        eprintln!("vstp: {problem}");
    }
    match (left.is_empty(), found.problems.is_empty()) {
        (true, true) => {
            println!("nothing to remove for {which:?}");
            exit::OK
        }
        _ => exit::FAILED,
    }
}

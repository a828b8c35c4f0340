//! `vstp cleanup (--run-id ID | --older-than AGE) --target cluster`

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
        let swept = sweep::sweep(&target.client, &which, &target.budgets).await;
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

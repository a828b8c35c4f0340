//! `vstp preflight [--target sim|cluster] [--kubeconfig F] [--config F]`: what preflight finds,
//! without running anything. Exit 0 when every prerequisite is met, 1 when some are not (the
//! scenarios needing them would be skipped), 2 when the target cannot be reached.

use super::exit;
use crate::cluster::{Target, TargetOptions};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: TargetOptions,
}

pub fn main(args: &Args) -> u8 {
    super::block_on(async {
        // Connecting runs preflight and prints its findings.
        match Target::connect(&args.target).await {
            Ok(target) if target.findings.unmet.is_empty() => exit::OK,
            Ok(target) => {
                for why in target.findings.unmet.values() {
                    println!("unmet: {why}");
                }
                exit::FAILED
            }
            Err(e) => {
                eprintln!("vstp: {e:#}");
                exit::USAGE
            }
        }
    })
}

//! Guests that take their time as real ones do: a hot-plugged NIC has its link before its
//! addresses (NetworkManager activates its profile, IPv6 goes through duplicate address
//! detection), so the harness reads the NIC's addresses and probes reachability again until
//! they come, within the Reaction budget. Runs the catalogue's hot-plug row as is, against a
//! standalone simulator slowed so that the harness surely looks before the addresses land.

use std::path::PathBuf;

use vstp::runner::{Outcome, Planned, Run, RunConfig, RunReport};

mod support;
use support::SimCluster;

/// Modelled seconds per real second: NetworkManager's 2 modelled seconds are 0.5 s here,
/// longer than the harness takes from the VMI status to its first ping.
const SLOW: f64 = 4.0;

fn row(slug: &str) -> Planned {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    let all = vstp::cli::planned_or_problems(&root).unwrap_or_else(|p| panic!("{p:?}"));
    all.into_iter()
        .find(|p| p.scenario.decl.slug == slug)
        .unwrap_or_else(|| panic!("the {slug} row"))
}

fn run_one(label: &str, planned: Planned) -> Outcome {
    let mut config = vstp_sim::SimConfig::cluster(Default::default()).expect("a cluster");
    config.time_scale = SLOW;
    let sim = SimCluster::with_config(&format!("drift-{label}-{}", std::process::id()), config);
    let mut config = RunConfig::new(sim.target(), true);
    config.junit_path = sim.path("junit.xml");
    config.artifacts = sim.path("artifacts");
    config.handle_signals = false;
    let args = libtest_mimic::Arguments {
        test_threads: Some(1),
        quiet: true,
        ..Default::default()
    };
    let report: RunReport = Run::new(config, vec![planned]).unwrap().execute(&args);
    report.cases[0].outcome_now().0
}

#[test]
fn a_hot_plugged_nic_is_probed_until_its_addresses_come() {
    let outcome = run_one("hotplug", row("hotplug-bridge-nic"));
    assert_eq!(outcome, Outcome::Passed);
}

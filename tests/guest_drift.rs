//! Guests that take their time as real ones do: a hot-plugged NIC has its link before its
//! addresses (NetworkManager activates its profile, IPv6 goes through duplicate address
//! detection), so the harness reads the NIC's addresses and probes reachability again until
//! they come, within the Reaction budget. Runs the catalogue's hot-plug row as is, against a
//! standalone simulator slowed so that the harness surely looks before the addresses land.

use vstp::runner::Outcome;

mod support;
use support::runs::{cluster, row, run_one};

/// Modelled seconds per real second: NetworkManager's 2 modelled seconds are 0.5 s here,
/// longer than the harness takes from the VMI status to its first ping.
const SLOW: f64 = 4.0;

#[test]
fn a_hot_plugged_nic_is_probed_until_its_addresses_come() {
    let sim = cluster("drift-hotplug", SLOW);
    let (outcome, _) = run_one(&sim, row("hotplug-bridge-nic"));
    assert_eq!(outcome, Outcome::Passed);
}

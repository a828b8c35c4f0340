//! stps/sig-network/nic-hotplug.md — hot-plug and hot-unplug of bridge NICs (project-local IDs).

use std::time::Duration;

use super::{Feature, GuestOs, Implementation, Needs, Scenario, WAITS_FOR_HARNESS};

const STP: &str = "sig-network/nic-hotplug.md";
const HOTPLUG: Needs = Needs::bridge(&[Feature::NicHotplug]);

const fn row(
    row: usize,
    id: &'static [&'static str],
    slug: &'static str,
    needs: Needs,
) -> Scenario {
    Scenario {
        slug,
        stp: STP,
        row,
        row_ids: id,
        test_ids: &[],
        os: GuestOs::Rhel,
        needs,
        disruptive: false,
        budget: Duration::from_secs(15 * 60),
        implementation: Implementation::Pending(WAITS_FOR_HARNESS),
    }
}

pub const SCENARIOS: &[Scenario] = &[
    row(1, &["VSTP-101"], "hotplug-bridge-nic", HOTPLUG),
    row(2, &["VSTP-102"], "unplug-bridge-nic", HOTPLUG),
    row(
        3,
        &["VSTP-103"],
        "non-migratable-vm",
        Needs::bridge(&[Feature::NicHotplug, Feature::NonMigratableStorage]),
    ),
    row(4, &["VSTP-104"], "non-bridge-binding-refused", HOTPLUG),
    row(5, &["VSTP-105"], "slot-limit", HOTPLUG),
];

//! stps/sig-network/live-update-nad-ref.md — live update of a VM's NAD reference (VIRTSTRAT-560).

use std::time::Duration;

use super::{Feature, GuestOs, Implementation, Needs, Scenario, WAITS_FOR_HARNESS};

const STP: &str = "sig-network/live-update-nad-ref.md";
const ROW_IDS: &[&str] = &["VIRTSTRAT-560"];

const fn row(
    row: usize,
    slug: &'static str,
    test_ids: &'static [&'static str],
    needs: Needs,
) -> Scenario {
    Scenario {
        slug,
        stp: STP,
        row,
        row_ids: ROW_IDS,
        test_ids,
        os: GuestOs::Rhel,
        needs,
        disruptive: false,
        budget: Duration::from_secs(15 * 60),
        implementation: Implementation::Pending(WAITS_FOR_HARNESS),
    }
}

pub const SCENARIOS: &[Scenario] = &[
    row(
        1,
        "bridge-vlan-swap",
        &["CNV-15972", "CNV-15945"],
        Needs::bridge(&[Feature::LiveUpdateNadRef]),
    ),
    row(
        2,
        "localnet-swap",
        &["CNV-15948"],
        Needs::bridge(&[Feature::LiveUpdateNadRef, Feature::Localnet]),
    ),
    row(
        3,
        "two-nics-one-patch",
        &["CNV-15946"],
        Needs::bridge(&[Feature::LiveUpdateNadRef]),
    ),
    row(
        4,
        "non-migratable-keeps-network",
        &["CNV-15947"],
        Needs::bridge(&[Feature::LiveUpdateNadRef, Feature::NonMigratableStorage]),
    ),
    row(
        5,
        "migrate-after-swap",
        &[],
        Needs::bridge(&[Feature::LiveUpdateNadRef]),
    ),
];

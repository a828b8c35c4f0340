//! stps/sig-network/primary-udn-migration.md — live migration over a primary layer2 UDN.

use std::time::Duration;

use super::{Feature, GuestOs, Implementation, Needs, Scenario, WAITS_FOR_HARNESS};

const STP: &str = "sig-network/primary-udn-migration.md";
const UDN: Needs = Needs::migration(&[Feature::PrimaryUdn]);

const fn row(row: usize, id: &'static [&'static str], slug: &'static str) -> Scenario {
    Scenario {
        slug,
        stp: STP,
        row,
        row_ids: id,
        test_ids: &[],
        os: GuestOs::Rhel,
        needs: UDN,
        disruptive: false,
        budget: Duration::from_secs(15 * 60),
        implementation: Implementation::Pending(WAITS_FOR_HARNESS),
    }
}

pub const SCENARIOS: &[Scenario] = &[
    row(1, &["CNV-11674"], "ip-kept-across-migration"),
    row(2, &["CNV-11427"], "tcp-connection-survives-migration"),
    row(3, &["VSTP-201"], "east-west-without-nat"),
    row(4, &["VSTP-202"], "requested-ip-used"),
];

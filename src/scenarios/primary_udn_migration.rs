//! stps/sig-network/primary-udn-migration.md — live migration over a primary layer2 UDN.

use super::{declare, Feature, Needs, Scenario};

const STP: &str = "sig-network/primary-udn-migration.md";
const UDN: Needs = Needs::migration(&[Feature::PrimaryUdn]);

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        needs: UDN,
        ..declare(STP, 1, &["CNV-11674"], "ip-kept-across-migration")
    },
    Scenario {
        needs: UDN,
        ..declare(STP, 2, &["CNV-11427"], "tcp-connection-survives-migration")
    },
    Scenario {
        needs: UDN,
        ..declare(STP, 3, &["VSTP-201"], "east-west-without-nat")
    },
    Scenario {
        needs: UDN,
        ..declare(STP, 4, &["VSTP-202"], "requested-ip-used")
    },
];

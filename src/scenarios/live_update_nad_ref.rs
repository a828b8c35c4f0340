//! stps/sig-network/live-update-nad-ref.md — live update of a VM's NAD reference (VIRTSTRAT-560).

use super::{declare, Feature, Needs, Scenario};

const STP: &str = "sig-network/live-update-nad-ref.md";
const ROW_IDS: &[&str] = &["VIRTSTRAT-560"];
const SWAP: Needs = Needs::bridge(&[Feature::LiveUpdateNadRef]);

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        test_ids: &["CNV-15972", "CNV-15945"],
        needs: SWAP,
        ..declare(STP, 1, ROW_IDS, "bridge-vlan-swap")
    },
    Scenario {
        test_ids: &["CNV-15948"],
        needs: Needs::bridge(&[Feature::LiveUpdateNadRef, Feature::Localnet]),
        ..declare(STP, 2, ROW_IDS, "localnet-swap")
    },
    Scenario {
        test_ids: &["CNV-15946"],
        needs: SWAP,
        ..declare(STP, 3, ROW_IDS, "two-nics-one-patch")
    },
    Scenario {
        test_ids: &["CNV-15947"],
        needs: Needs::bridge(&[Feature::LiveUpdateNadRef, Feature::NonMigratableStorage]),
        ..declare(STP, 4, ROW_IDS, "non-migratable-keeps-network")
    },
    Scenario {
        needs: SWAP,
        ..declare(STP, 5, ROW_IDS, "migrate-after-swap")
    },
];

//! stps/sig-network/nic-hotplug.md — hot-plug and hot-unplug of bridge NICs (project-local IDs).

use super::{declare, Feature, Needs, Scenario};

const STP: &str = "sig-network/nic-hotplug.md";
const HOTPLUG: Needs = Needs::bridge(&[Feature::NicHotplug]);

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        needs: HOTPLUG,
        ..declare(STP, 1, &["VSTP-101"], "hotplug-bridge-nic")
    },
    Scenario {
        needs: HOTPLUG,
        ..declare(STP, 2, &["VSTP-102"], "unplug-bridge-nic")
    },
    Scenario {
        needs: Needs::bridge(&[Feature::NicHotplug, Feature::NonMigratableStorage]),
        ..declare(STP, 3, &["VSTP-103"], "non-migratable-vm")
    },
    Scenario {
        needs: HOTPLUG,
        ..declare(STP, 4, &["VSTP-104"], "non-bridge-binding-refused")
    },
    Scenario {
        needs: HOTPLUG,
        ..declare(STP, 5, &["VSTP-105"], "slot-limit")
    },
];

//! stps/sig-virt/workload-disruption-migration.md — AWD migrations in PostCopy and Paused mode.

use std::time::Duration;

use super::{declare, Feature, GuestOs, Needs, Scenario};

const STP: &str = "sig-virt/workload-disruption-migration.md";
const AWD: Needs = Needs::migration(&[Feature::WorkloadDisruptionPolicy]);
const AWD_WINDOWS: Needs =
    Needs::migration(&[Feature::WorkloadDisruptionPolicy, Feature::WindowsImage]);

/// Windows guests boot and migrate slowly; their budget is larger.
const fn windows(scenario: Scenario) -> Scenario {
    Scenario {
        os: GuestOs::Windows,
        budget: Duration::from_secs(40 * 60),
        ..scenario
    }
}

pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        needs: AWD,
        ..declare(STP, 1, &["CNV-15225"], "rhel-postcopy")
    },
    Scenario {
        needs: AWD,
        ..declare(STP, 1, &["CNV-15225"], "rhel-paused")
    },
    windows(Scenario {
        needs: AWD_WINDOWS,
        ..declare(STP, 2, &["CNV-15246"], "windows-postcopy")
    }),
    windows(Scenario {
        needs: AWD_WINDOWS,
        ..declare(STP, 2, &["CNV-15246"], "windows-paused")
    }),
    Scenario {
        needs: AWD,
        disruptive: true,
        ..declare(STP, 3, &["CNV-15245"], "rhel-drain")
    },
    Scenario {
        needs: Needs::migration(&[Feature::WorkloadDisruptionPolicy, Feature::CpuHotplug]),
        ..declare(STP, 4, &["CNV-15234"], "rhel-cpu-hotplug")
    },
    windows(Scenario {
        needs: Needs::migration(&[
            Feature::WorkloadDisruptionPolicy,
            Feature::CpuHotplug,
            Feature::WindowsImage,
        ]),
        ..declare(STP, 5, &["CNV-15247"], "windows-cpu-hotplug")
    }),
    Scenario {
        needs: Needs::migration(&[Feature::WorkloadDisruptionPolicy, Feature::MemoryHotplug]),
        ..declare(STP, 6, &["CNV-15235"], "rhel-memory-hotplug")
    },
    windows(Scenario {
        needs: Needs::migration(&[
            Feature::WorkloadDisruptionPolicy,
            Feature::MemoryHotplug,
            Feature::WindowsImage,
        ]),
        ..declare(STP, 7, &["CNV-16312"], "windows-memory-hotplug")
    }),
];

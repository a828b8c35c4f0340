//! stps/sig-virt/workload-disruption-migration.md — AWD migrations in PostCopy and Paused mode.

use std::time::Duration;

use super::{Feature, GuestOs, Implementation, Needs, Scenario, WAITS_FOR_HARNESS};

const STP: &str = "sig-virt/workload-disruption-migration.md";
const AWD: &[Feature] = &[Feature::WorkloadDisruptionPolicy];
const AWD_WINDOWS: &[Feature] = &[Feature::WorkloadDisruptionPolicy, Feature::WindowsImage];

const fn row(
    row: usize,
    id: &'static [&'static str],
    slug: &'static str,
    os: GuestOs,
    features: &'static [Feature],
) -> Scenario {
    let minutes = match os {
        GuestOs::Rhel => 15,
        GuestOs::Windows => 40,
    };
    Scenario {
        slug,
        stp: STP,
        row,
        row_ids: id,
        test_ids: &[],
        os,
        needs: Needs::migration(features),
        disruptive: false,
        budget: Duration::from_secs(minutes * 60),
        implementation: Implementation::Pending(WAITS_FOR_HARNESS),
    }
}

const fn drain(scenario: Scenario) -> Scenario {
    Scenario {
        disruptive: true,
        ..scenario
    }
}

pub const SCENARIOS: &[Scenario] = &[
    row(1, &["CNV-15225"], "rhel-postcopy", GuestOs::Rhel, AWD),
    row(1, &["CNV-15225"], "rhel-paused", GuestOs::Rhel, AWD),
    row(
        2,
        &["CNV-15246"],
        "windows-postcopy",
        GuestOs::Windows,
        AWD_WINDOWS,
    ),
    row(
        2,
        &["CNV-15246"],
        "windows-paused",
        GuestOs::Windows,
        AWD_WINDOWS,
    ),
    drain(row(3, &["CNV-15245"], "rhel-drain", GuestOs::Rhel, AWD)),
    row(
        4,
        &["CNV-15234"],
        "rhel-cpu-hotplug",
        GuestOs::Rhel,
        &[Feature::WorkloadDisruptionPolicy, Feature::CpuHotplug],
    ),
    row(
        5,
        &["CNV-15247"],
        "windows-cpu-hotplug",
        GuestOs::Windows,
        &[
            Feature::WorkloadDisruptionPolicy,
            Feature::CpuHotplug,
            Feature::WindowsImage,
        ],
    ),
    row(
        6,
        &["CNV-15235"],
        "rhel-memory-hotplug",
        GuestOs::Rhel,
        &[Feature::WorkloadDisruptionPolicy, Feature::MemoryHotplug],
    ),
    row(
        7,
        &["CNV-16312"],
        "windows-memory-hotplug",
        GuestOs::Windows,
        &[
            Feature::WorkloadDisruptionPolicy,
            Feature::MemoryHotplug,
            Feature::WindowsImage,
        ],
    ),
];

//! The scenario registry: one module per STP, each declaring its scenarios beside the STP row
//! they automate. A newcomer finds a scenario by its STP file name and row number.

mod live_update_nad_ref;
mod nic_hotplug;
mod primary_udn_migration;
mod workload_disruption_migration;

use std::time::Duration;

use futures::future::BoxFuture;

use crate::runner::Ctx;

/// What a scenario needs from the cluster; preflight turns unmet needs into skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub workers: u8,
    /// Spare NICs per worker for Linux bridges (0 = none).
    pub secondary_nics: u8,
    pub features: &'static [Feature],
}

impl Needs {
    /// Two schedulable workers and one spare NIC on each: the shape of every bridge scenario.
    pub const fn bridge(features: &'static [Feature]) -> Needs {
        Needs {
            workers: 2,
            secondary_nics: 1,
            features,
        }
    }
    pub const fn migration(features: &'static [Feature]) -> Needs {
        Needs {
            workers: 2,
            secondary_nics: 0,
            features,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Feature {
    LiveUpdateNadRef,
    Localnet,
    PrimaryUdn,
    NicHotplug,
    CpuHotplug,
    MemoryHotplug,
    WorkloadDisruptionPolicy,
    WindowsImage,
    NonMigratableStorage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum GuestOs {
    Rhel,
    Windows,
}

/// The async body of an automated scenario.
pub type Body = fn(Ctx) -> BoxFuture<'static, anyhow::Result<()>>;

#[derive(Clone, Copy)]
pub enum Implementation {
    Automated(Body),
    /// Declared but not written yet: reported as not automated; `coverage --strict` fails on it.
    Pending(&'static str),
}

/// A scenario and the STP row it automates. Tier and priority come from the row itself.
#[derive(Clone, Copy)]
pub struct Scenario {
    pub slug: &'static str,
    /// Path of the STP below `stps/`, e.g. `sig-network/live-update-nad-ref.md`.
    pub stp: &'static str,
    /// 1-based row of the STP's traceability section.
    pub row: usize,
    /// The row's IDs as written in the STP; the catalogue checks they still match.
    pub row_ids: &'static [&'static str],
    /// Polarion test-case IDs beyond the row's own.
    pub test_ids: &'static [&'static str],
    pub os: GuestOs,
    pub needs: Needs,
    /// Drains nodes or changes node networking: on a cluster it runs only with
    /// `--allow-disruptive`, and never beside another scenario...
    pub disruptive: bool,
    /// ...unless all it changes is node networking: then it only excludes the scenarios that
    /// also change node networking (they would share the NICs), and runs beside the rest.
    pub node_networking: bool,
    /// Wall-clock budget on a real cluster; the simulator scales it.
    pub budget: Duration,
    pub implementation: Implementation,
}

impl Scenario {
    /// The ID that names the trial: the first Polarion ID, else the row's first ID.
    pub fn primary_id(&self) -> &'static str {
        self.test_ids
            .first()
            .or(self.row_ids.first())
            .copied()
            .unwrap_or("NO-ID")
    }

    /// Every ID the scenario answers to when selected.
    pub fn ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.row_ids.iter().chain(self.test_ids).copied()
    }

    pub fn sig(&self) -> &'static str {
        self.stp.split('/').next().unwrap_or("")
    }

    pub fn stp_slug(&self) -> &'static str {
        let file = self.stp.rsplit('/').next().unwrap_or(self.stp);
        file.strip_suffix(".md").unwrap_or(file)
    }

    /// `<sig>/<stp-slug>/<ID>/<scenario-slug>`: stable, filterable, unique.
    pub fn trial_name(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.sig(),
            self.stp_slug(),
            self.primary_id(),
            self.slug
        )
    }

    pub fn pending_reason(&self) -> Option<&'static str> {
        match self.implementation {
            Implementation::Pending(reason) => Some(reason),
            Implementation::Automated(_) => None,
        }
    }
}

/// A row deliberately left to manual testing, with the reason.
#[derive(Debug, Clone, Copy)]
pub struct ManualRow {
    pub stp: &'static str,
    pub row: usize,
    pub row_ids: &'static [&'static str],
    pub reason: &'static str,
}

/// Every scenario vstp knows, in STP order.
pub fn all() -> Vec<Scenario> {
    [
        live_update_nad_ref::SCENARIOS,
        workload_disruption_migration::SCENARIOS,
        nic_hotplug::SCENARIOS,
        primary_udn_migration::SCENARIOS,
    ]
    .concat()
}

/// Rows that stay manual. Empty today: every row of stps/ is meant to be automated.
pub const MANUAL: &[ManualRow] = &[];

/// Why a freshly declared row is pending: its scenario body is not written yet.
const WAITS_FOR_HARNESS: &str = "not automated yet: the scenario body is not written";

/// `scenario` with its body written.
pub const fn automated(scenario: Scenario, body: Body) -> Scenario {
    Scenario {
        implementation: Implementation::Automated(body),
        ..scenario
    }
}

/// `scenario` with its body, changing node networking (a bridge on every worker): disruptive,
/// and run one at a time with the other scenarios that do the same.
pub const fn changes_node_networking(scenario: Scenario, body: Body) -> Scenario {
    Scenario {
        disruptive: true,
        node_networking: true,
        ..automated(scenario, body)
    }
}

/// The defaults every declaration starts from: a RHEL guest on two workers, a 15-minute
/// budget, not disruptive, pending. Declarations override fields with `..declare(..)`.
pub const fn declare(
    stp: &'static str,
    row: usize,
    row_ids: &'static [&'static str],
    slug: &'static str,
) -> Scenario {
    Scenario {
        slug,
        stp,
        row,
        row_ids,
        test_ids: &[],
        os: GuestOs::Rhel,
        needs: Needs::migration(&[]),
        disruptive: false,
        node_networking: false,
        budget: Duration::from_secs(15 * 60),
        implementation: Implementation::Pending(WAITS_FOR_HARNESS),
    }
}

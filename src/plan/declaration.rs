//! A scenario's declaration: which STP row it automates, the IDs it answers to, what it needs
//! and how it must be scheduled. Written beside the scenario's body as a chain that reads like
//! the row:
//!
//! ```
//! use vstp::plan::{row, Feature, Needs};
//!
//! let declared = row("sig-network/hotpluggable-nad-ref.md", 1, "bridge-vlan-swap")
//!     .ids(&["VIRTSTRAT-560"])
//!     .tests(&["CNV-15972"])
//!     .needs(Needs::bridge(&[Feature::LiveUpdateNadRef]))
//!     .changes_node_networking();
//! assert_eq!(
//!     declared.trial_name(),
//!     "sig-network/hotpluggable-nad-ref/CNV-15972/bridge-vlan-swap"
//! );
//! ```

use std::time::Duration;

use super::needs::Needs;
use crate::guest::os::GuestOs;

/// A scenario and the STP row it automates. Tier and priority come from the row itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declaration {
    pub slug: &'static str,
    /// Path of the STP below the STP root, e.g. `sig-network/hotpluggable-nad-ref.md`.
    pub stp: &'static str,
    /// 1-based row of the STP's traceability section.
    pub row: usize,
    /// The row's IDs as written in the STP; the catalogue checks they still match.
    pub row_ids: &'static [&'static str],
    /// Polarion test-case IDs beyond the row's own.
    pub test_ids: &'static [&'static str],
    /// Whether the row's `CNV-` IDs are Polarion test cases (older table STPs) or Jira issues
    /// (an epic the plan tracks, as the published plans write them), which only `requirement`
    /// reports.
    pub row_ids_in_polarion: bool,
    /// What tells this scenario apart from the others reporting the same Polarion test case
    /// (`("migration_mode", "PostCopy")`): JUnit `polarion-parameter-<name>` properties.
    pub parameters: &'static [(&'static str, &'static str)],
    pub os: GuestOs,
    pub needs: Needs,
    /// Drains nodes or changes node networking: on a cluster it runs only with
    /// `--allow-disruptive`, and never beside another scenario...
    pub disruptive: bool,
    /// ...unless all it changes is node networking: then it only excludes the scenarios that
    /// also change node networking (they would share the NICs), and runs beside the rest.
    pub node_networking: bool,
    /// A fixed budget in place of the one derived from the scenario's waits (the harness's
    /// allowance plus every wait's budget, see cluster::budget): for tests of the budget itself.
    pub budget: Option<Duration>,
    /// Declared but not written yet: reported as not automated; `coverage --strict` fails.
    pub pending: Option<&'static str>,
}

/// Starts a declaration for row `row` of `stp`, named `slug`: a RHEL guest on two workers, a
/// budget derived from its waits, not disruptive. The chain's other methods change one thing each.
pub const fn row(stp: &'static str, row: usize, slug: &'static str) -> Declaration {
    Declaration {
        slug,
        stp,
        row,
        row_ids: &[],
        test_ids: &[],
        row_ids_in_polarion: true,
        parameters: &[],
        os: GuestOs::Rhel,
        needs: Needs::migration(&[]),
        disruptive: false,
        node_networking: false,
        budget: None,
        pending: None,
    }
}

impl Declaration {
    /// The row's IDs, as the STP writes them.
    pub const fn ids(self, row_ids: &'static [&'static str]) -> Declaration {
        Declaration { row_ids, ..self }
    }

    /// The row's IDs are Jira issues (the epic a published plan tracks, `CNV-67524 (epic)`),
    /// not Polarion test cases: JUnit reports them as `requirement` only, never as
    /// `polarion-testcase-id`, which Polarion's importer would try to match to a test case.
    pub const fn row_ids_are_jira(self) -> Declaration {
        Declaration {
            row_ids_in_polarion: false,
            ..self
        }
    }

    /// Polarion test-case IDs beyond the row's own; the first one names the trial.
    pub const fn tests(self, test_ids: &'static [&'static str]) -> Declaration {
        Declaration { test_ids, ..self }
    }

    /// Polarion test-case parameters: what sets this scenario apart from another run of the same
    /// Polarion test case (the catalogue refuses two scenarios with the same ID and parameters).
    pub const fn parameters(
        self,
        parameters: &'static [(&'static str, &'static str)],
    ) -> Declaration {
        Declaration { parameters, ..self }
    }

    pub const fn needs(self, needs: Needs) -> Declaration {
        Declaration { needs, ..self }
    }

    /// A Windows guest (its boot has the Windows budget).
    pub const fn windows(self) -> Declaration {
        Declaration {
            os: GuestOs::Windows,
            ..self
        }
    }

    /// A fixed budget instead of the derived one.
    pub const fn budget(self, budget: Duration) -> Declaration {
        Declaration {
            budget: Some(budget),
            ..self
        }
    }

    /// Drains nodes: runs alone, and on a cluster only with `--allow-disruptive`.
    pub const fn disruptive(self) -> Declaration {
        Declaration {
            disruptive: true,
            ..self
        }
    }

    /// Puts a bridge on every worker: disruptive, but it only excludes the other scenarios
    /// that change node networking.
    pub const fn changes_node_networking(self) -> Declaration {
        Declaration {
            disruptive: true,
            node_networking: true,
            ..self
        }
    }

    /// Not written yet, with the reason reported in place of a result.
    pub const fn pending(self, reason: &'static str) -> Declaration {
        Declaration {
            pending: Some(reason),
            ..self
        }
    }

    /// The ID that names the trial: the first Polarion ID, else the row's first ID.
    pub fn primary_id(&self) -> &'static str {
        self.test_ids
            .first()
            .or(self.row_ids.first())
            .copied()
            .unwrap_or("NO-ID")
    }

    /// The Polarion test cases the scenario reports: its declared ones, else the row's `CNV-`
    /// IDs (in older table STPs the requirement column holds the Polarion IDs) unless the
    /// declaration says they are Jira issues.
    pub fn polarion_ids(&self) -> Vec<&'static str> {
        if !self.test_ids.is_empty() || !self.row_ids_in_polarion {
            return self.test_ids.to_vec();
        }
        self.row_ids
            .iter()
            .filter(|id| id.starts_with("CNV-"))
            .copied()
            .collect()
    }

    /// Every ID the scenario answers to when selected.
    pub fn all_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
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
}

/// A row deliberately left to manual testing, with the reason.
#[derive(Debug, Clone, Copy)]
pub struct ManualRow {
    pub stp: &'static str,
    pub row: usize,
    pub row_ids: &'static [&'static str],
    pub reason: &'static str,
}

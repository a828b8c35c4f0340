//! JUnit for Polarion, Prow and ReportPortal: one flat testsuite per STP, properties per case.

use std::path::Path;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::record::{CaseRecord, Outcome};
use crate::cluster::TargetKind;

/// Run-level facts that go into the report.
pub struct ReportInfo<'a> {
    pub run_id: &'a str,
    /// The in-process simulator's seed, so a red run's timings can be repeated.
    pub sim_seed: Option<u64>,
    pub target: TargetKind,
    pub polarion_project: &'a str,
}

/// Polarion test-case IDs of a scenario: its declared ones, else the row's `CNV-` IDs (in table
/// STPs the requirement column holds the Polarion IDs).
pub fn polarion_ids(case: &CaseRecord) -> Vec<String> {
    let s = &case.planned.scenario.decl;
    if !s.test_ids.is_empty() {
        return s.test_ids.iter().map(|id| id.to_string()).collect();
    }
    s.row_ids
        .iter()
        .filter(|id| id.starts_with("CNV-"))
        .map(|id| id.to_string())
        .collect()
}

pub fn render(cases: &[CaseRecord], info: &ReportInfo) -> String {
    let mut report = Report::new("vstp");
    let mut suites: Vec<TestSuite> = Vec::new();
    for case in cases {
        let suite_name = {
            let s = &case.planned.scenario.decl;
            format!("{}/{}", s.sig(), s.stp_slug())
        };
        let at = match suites.iter().position(|s| s.name.as_str() == suite_name) {
            Some(at) => at,
            None => {
                let mut suite = TestSuite::new(suite_name);
                suite.add_property(Property::new("polarion-project-id", info.polarion_project));
                suite.add_property(Property::new("vstp-run-id", info.run_id));
                if let Some(seed) = info.sim_seed {
                    suite.add_property(Property::new("vstp-sim-seed", seed.to_string()));
                }
                suites.push(suite);
                suites.len() - 1
            }
        };
        suites[at].add_test_case(test_case(case, info));
    }
    report.add_test_suites(suites);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot serialise the report: {e} -->"))
}

fn test_case(case: &CaseRecord, info: &ReportInfo) -> TestCase {
    let s = &case.planned.scenario.decl;
    let (outcome, elapsed) = case.outcome_now();
    let status = match &outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Skipped(reason) => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(format!("skipped - {reason}"));
            st
        }
        Outcome::Failed(message) => non_success(NonSuccessKind::Failure, message, case),
        Outcome::Error(message) => non_success(NonSuccessKind::Error, message, case),
        Outcome::Environment(message) => {
            let mut st = non_success(NonSuccessKind::Error, message, case);
            st.set_type("Environment");
            st
        }
    };
    let mut tc = TestCase::new(s.trial_name(), status);
    tc.set_classname(format!("{}.{}", s.sig(), s.stp_slug()));
    tc.set_time(elapsed);
    for id in polarion_ids(case) {
        tc.add_property(Property::new("polarion-testcase-id", id));
    }
    for id in s.row_ids {
        tc.add_property(Property::new("requirement", *id));
    }
    let row = &case.planned.row;
    tc.add_property(Property::new("stp", format!("stps/{}:{}", s.stp, row.line)));
    if let Some(tier) = row.tier {
        tc.add_property(Property::new("tier", tier.to_string()));
    }
    if let Some(priority) = row.priority {
        tc.add_property(Property::new("priority", priority.to_string()));
    }
    tc.add_property(Property::new("target", info.target.to_string()));
    if !case.log.is_empty() {
        tc.set_system_out(case.log.clone());
    }
    tc
}

fn non_success(kind: NonSuccessKind, message: &str, case: &CaseRecord) -> TestCaseStatus {
    let mut st = TestCaseStatus::non_success(kind);
    st.set_message(format!(
        "{message} (artifacts: {})",
        case.artifacts.display()
    ));
    st.set_type(match kind {
        NonSuccessKind::Failure => "Failure",
        NonSuccessKind::Error => "Error",
    });
    st
}

/// Writes the report atomically (temp file + rename), so a reader never sees half a file.
pub fn write(path: &Path, xml: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("xml.partial");
    std::fs::write(&tmp, xml)?;
    std::fs::rename(&tmp, path)
}

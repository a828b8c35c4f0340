//! JUnit for Polarion, Prow and ReportPortal: one flat testsuite per STP, properties per case.
//!
//! Polarion's XUnit importer maps a `<testcase>` to a test case by its one
//! `polarion-testcase-id` and tells runs of one test case apart by their
//! `polarion-parameter-<name>` properties, so a scenario reports one `<testcase>` per Polarion
//! ID, each with the scenario's outcome. The importer reads the run's properties (project, test
//! run, custom fields) under `<testsuites>`; they are on every `<testsuite>` as well, where the
//! downstream suite's pytest JUnit carries them.

use std::path::Path;

use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::record::{Attempt, CaseRecord, Outcome};
use crate::cluster::guest_lane::Guests;
use crate::cluster::polarion::PolarionRun;
use crate::cluster::TargetKind;
use crate::guest::os::GuestOs;

/// Run-level facts that go into the report.
pub struct ReportInfo<'a> {
    pub run_id: &'a str,
    /// The in-process simulator's seed, so a red run's timings can be repeated.
    pub sim_seed: Option<u64>,
    /// The in-process simulator's guests (`None` on a cluster): each case says which its
    /// guests were, since the real-guest lane runs Windows guests emulated.
    pub sim_guests: Option<Guests>,
    pub target: TargetKind,
    pub polarion: &'a PolarionRun,
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
                for (name, value) in info.polarion.properties() {
                    suite.add_property(Property::new(name, value));
                }
                suite.add_property(Property::new("vstp-run-id", info.run_id));
                if let Some(seed) = info.sim_seed {
                    suite.add_property(Property::new("vstp-sim-seed", seed.to_string()));
                }
                suites.push(suite);
                suites.len() - 1
            }
        };
        suites[at].add_test_cases(per_polarion_id(test_case(case, info), case));
    }
    report.add_test_suites(suites);
    match report.to_string() {
        Ok(xml) => with_run_properties(xml, &info.polarion.properties()),
        Err(e) => format!("<!-- cannot serialise the report: {e} -->"),
    }
}

/// One `<testcase>` per Polarion ID of the scenario, each with its ID and parameters. The first
/// ID's (the one that names the trial) keeps the trial name, which CI history and the artifact
/// folder know; each other is the trial name with its ID in brackets.
fn per_polarion_id(case: TestCase, record: &CaseRecord) -> Vec<TestCase> {
    let decl = &record.planned.scenario.decl;
    let ids = decl.polarion_ids();
    if ids.is_empty() {
        return vec![case];
    }
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let mut tc = case.clone();
            if i > 0 {
                tc.name = format!("{} [{id}]", case.name.as_str()).into();
            }
            let mut polarion = vec![Property::new("polarion-testcase-id", *id)];
            for (name, value) in decl.parameters {
                polarion.push(Property::new(format!("polarion-parameter-{name}"), *value));
            }
            tc.properties.splice(0..0, polarion);
            tc
        })
        .collect()
}

/// quick-junit writes no `<properties>` under `<testsuites>`, where the importer reads the
/// run's: they go right after its start tag (whose attributes are the name `vstp` and counts,
/// so the first `>` ends it).
fn with_run_properties(xml: String, properties: &[(String, String)]) -> String {
    let Some(end) = xml
        .find("<testsuites")
        .and_then(|start| xml[start..].find('>').map(|end| start + end + 1))
    else {
        return xml;
    };
    let mut block = String::from("\n    <properties>");
    for (name, value) in properties {
        block.push_str(&format!(
            "\n        <property name=\"{}\" value=\"{}\"/>",
            escape(name),
            escape(value)
        ));
    }
    block.push_str("\n    </properties>");
    let mut out = xml;
    out.insert_str(end, &block);
    out
}

/// `text` as an XML attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
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
    let mut status = status;
    status.add_reruns(case.earlier.iter().filter_map(rerun));
    let mut tc = TestCase::new(s.trial_name(), status);
    tc.set_classname(format!("{}.{}", s.sig(), s.stp_slug()));
    tc.set_time(elapsed);
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
    if let Some(guests) = info.sim_guests {
        tc.add_property(Property::new("vstp-guests", guests_of(guests, s.os)));
    }
    for (name, value) in &case.properties {
        tc.add_property(Property::new(name.as_str(), value.as_str()));
    }
    if !case.log.is_empty() {
        tc.set_system_out(case.log.clone());
    }
    tc
}

/// What ran a case's guests in the simulator: real kernels in qemu for Linux in the qemu lane;
/// Windows guests are always emulated (no Windows image can be had for the lane).
fn guests_of(guests: Guests, os: GuestOs) -> &'static str {
    match (guests, os) {
        (Guests::Qemu, GuestOs::Rhel) => "qemu",
        (Guests::Qemu, GuestOs::Windows) => "emulated (the qemu lane has no Windows image)",
        (Guests::Emulated, _) => "emulated",
    }
}

/// An earlier attempt as Surefire reports a rerun: `<flakyFailure>` in a case that then
/// passed, `<rerunFailure>` in one that failed again (`Error` for errors), each with its
/// message, time and step log.
fn rerun(attempt: &Attempt) -> Option<TestRerun> {
    let (kind, message) = match &attempt.outcome {
        Outcome::Failed(m) => (NonSuccessKind::Failure, m),
        Outcome::Error(m) | Outcome::Environment(m) => (NonSuccessKind::Error, m),
        Outcome::Passed | Outcome::Skipped(_) => return None,
    };
    let mut run = TestRerun::new(kind);
    run.set_message(message.as_str()).set_time(attempt.elapsed);
    if !attempt.log.is_empty() {
        run.set_system_out(attempt.log.as_str());
    }
    Some(run)
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

#[cfg(test)]
#[path = "junit_tests.rs"]
mod tests;

//! The JUnit as Polarion's importer reads it, parsed with an XML parser.

use std::path::PathBuf;
use std::time::Duration;

use quick_xml::events::Event;

use super::*;
use crate::plan::{row, Declaration};
use crate::runner::record::State;
use crate::runner::Planned;
use crate::scenarios::Attach;
use crate::stp::Row;

fn record(decl: Declaration, outcome: Outcome) -> CaseRecord {
    CaseRecord {
        planned: Planned {
            scenario: decl.not_yet("a body is not needed to report"),
            row: Row {
                file: PathBuf::from(decl.stp),
                line: 7,
                index: decl.row,
                ids: decl.row_ids.iter().map(|id| id.to_string()).collect(),
                story: String::new(),
                scenario: String::new(),
                tier: Some(1),
                priority: None,
            },
        },
        state: State::Done {
            outcome,
            elapsed: Duration::from_secs(3),
        },
        log: "a step\n".into(),
        properties: Vec::new(),
        artifacts: PathBuf::from("artifacts"),
        earlier: Vec::new(),
    }
}

fn render_with(cases: &[CaseRecord], polarion: &PolarionRun) -> String {
    render_in(cases, polarion, None)
}

fn render_in(cases: &[CaseRecord], polarion: &PolarionRun, guests: Option<Guests>) -> String {
    let info = ReportInfo {
        run_id: "run-1",
        sim_seed: None,
        sim_guests: guests,
        target: TargetKind::Sim,
        polarion,
    };
    render(cases, &info)
}

/// An element: the names of the elements around it (`testsuites/testsuite`), its own name and
/// attributes.
struct Element {
    within: String,
    name: String,
    attrs: Vec<(String, String)>,
}

impl Element {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn elements(xml: &str) -> Vec<Element> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut open, mut out) = (Vec::<String>::new(), Vec::new());
    loop {
        let (start, empty) = match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            Event::End(_) => {
                open.pop();
                (None, false)
            }
            Event::Eof => return out,
            _ => (None, false),
        };
        let Some(e) = start else { continue };
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                (key, a.unescape_value().expect("value").into_owned())
            })
            .collect();
        out.push(Element {
            within: open.join("/"),
            name: name.clone(),
            attrs,
        });
        if !empty {
            open.push(name);
        }
    }
}

/// Each `<testcase>` (name) with its properties (name, value), in order.
fn testcases(all: &[Element]) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for e in all {
        if e.name == "testcase" {
            out.push((e.attr("name").unwrap().into(), Vec::new()));
        } else if e.name == "property" && e.within.ends_with("testcase/properties") {
            let pair = (
                e.attr("name").unwrap().into(),
                e.attr("value").unwrap().into(),
            );
            out.last_mut().expect("a testcase").1.push(pair);
        }
    }
    out
}

fn values<'a>(props: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    props
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn a_scenario_with_two_polarion_ids_is_two_testcases_with_one_id_each() {
    let decl = row("sig-network/nad.md", 1, "swap")
        .ids(&["VIRTSTRAT-560"])
        .tests(&["CNV-15972", "CNV-15945"]);
    let failed = Outcome::Failed("saw PreCopy".into());
    let xml = render_with(&[record(decl, failed)], &PolarionRun::default());
    let all = elements(&xml);
    let cases = testcases(&all);
    let names: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "sig-network/nad/CNV-15972/swap",
            "sig-network/nad/CNV-15972/swap [CNV-15945]"
        ]
    );
    assert_eq!(values(&cases[0].1, "polarion-testcase-id"), ["CNV-15972"]);
    assert_eq!(values(&cases[1].1, "polarion-testcase-id"), ["CNV-15945"]);
    for (_, props) in &cases {
        assert_eq!(values(props, "requirement"), ["VIRTSTRAT-560"]);
    }
    let testcase = |e: &&Element| e.name == "testcase";
    assert!(all
        .iter()
        .filter(testcase)
        .all(|e| e.attr("classname") == Some("sig-network.nad")));
    let failures = all.iter().filter(|e| e.name == "failure").count();
    assert_eq!(failures, 2, "each ID carries the scenario's outcome");
    let suite = all.iter().find(|e| e.name == "testsuite").unwrap();
    assert_eq!(suite.attr("tests"), Some("2"));
}

#[test]
fn a_row_tracked_by_a_jira_epic_reports_it_as_requirement_not_as_test_case() {
    let table_row = row("sig-virt/awd.md", 1, "old").ids(&["CNV-15225"]);
    let epic_row = row("sig-network/ip.md", 1, "east-west")
        .ids(&["CNV-67524"])
        .row_ids_are_jira();
    let xml = render_with(
        &[
            record(table_row, Outcome::Passed),
            record(epic_row, Outcome::Passed),
        ],
        &PolarionRun::default(),
    );
    let cases = testcases(&elements(&xml));
    let props = |name: &str| &cases.iter().find(|(n, _)| n.ends_with(name)).unwrap().1;
    assert_eq!(values(props("/old"), "polarion-testcase-id"), ["CNV-15225"]);
    assert!(values(props("/east-west"), "polarion-testcase-id").is_empty());
    assert_eq!(values(props("/east-west"), "requirement"), ["CNV-67524"]);
}

#[test]
fn in_the_qemu_lane_each_case_says_its_guests_and_windows_ones_say_they_are_emulated() {
    let linux = record(
        row("sig-virt/awd.md", 1, "rhel").ids(&["CNV-1"]),
        Outcome::Passed,
    );
    let windows = row("sig-virt/awd.md", 2, "windows").ids(&["CNV-2"]);
    let windows = record(windows.windows(), Outcome::Passed);
    let cases = [linux, windows];
    let xml = render_in(&cases, &PolarionRun::default(), Some(Guests::Qemu));
    let reported = testcases(&elements(&xml));
    assert_eq!(values(&reported[0].1, "vstp-guests"), ["qemu"]);
    let emulated = values(&reported[1].1, "vstp-guests");
    assert!(
        emulated.len() == 1 && emulated[0].starts_with("emulated"),
        "{emulated:?}"
    );
    let on_a_cluster = render_with(&cases, &PolarionRun::default());
    assert!(!on_a_cluster.contains("vstp-guests"), "{on_a_cluster}");
}

#[test]
fn what_a_scenario_measured_is_a_property_of_its_case() {
    let decl = row("sig-network/stun.md", 1, "bridge").ids(&["CNV-72773"]);
    let mut case = record(decl, Outcome::Passed);
    case.properties = vec![(
        "stuntime-ipv4-client-same-node-first".into(),
        "0.213".into(),
    )];
    let xml = render_with(&[case], &PolarionRun::default());
    let cases = testcases(&elements(&xml));
    let measured = values(&cases[0].1, "stuntime-ipv4-client-same-node-first");
    assert_eq!(measured, ["0.213"]);
}

#[test]
fn parameters_tell_runs_of_one_test_case_apart() {
    let awd = |slug, mode| {
        row("sig-virt/awd.md", 1, slug)
            .ids(&["CNV-15225"])
            .parameters(match mode {
                "PostCopy" => &[("migration_mode", "PostCopy")],
                _ => &[("migration_mode", "Paused")],
            })
    };
    let cases = [
        record(awd("rhel-postcopy", "PostCopy"), Outcome::Passed),
        record(awd("rhel-paused", "Paused"), Outcome::Passed),
        record(
            row("sig-virt/awd.md", 2, "no-id").ids(&["VSTP-1"]),
            Outcome::Passed,
        ),
    ];
    let xml = render_with(&cases, &PolarionRun::default());
    let found = testcases(&elements(&xml));
    assert_eq!(found.len(), 3);
    for ((_, props), mode) in found.iter().zip(["PostCopy", "Paused"]) {
        assert_eq!(values(props, "polarion-testcase-id"), ["CNV-15225"]);
        assert_eq!(values(props, "polarion-parameter-migration_mode"), [mode]);
    }
    let (name, props) = &found[2];
    assert!(
        values(props, "polarion-testcase-id").is_empty(),
        "a row without a CNV ID has no Polarion test case: {name}"
    );
}

#[test]
fn the_run_properties_are_under_testsuites_and_on_every_testsuite() {
    let polarion = PolarionRun {
        testrun_id: Some("nightly 4.20".into()),
        env_os: Some("rhel9 & <co>".into()),
        responses: vec![("myproduct".into(), "cnv-test-run".into())],
        ..PolarionRun::default()
    };
    let cases = [
        record(
            row("sig-network/nad.md", 1, "a").ids(&["CNV-1"]),
            Outcome::Passed,
        ),
        record(
            row("sig-virt/awd.md", 1, "b").ids(&["CNV-2"]),
            Outcome::Passed,
        ),
    ];
    let all = elements(&render_with(&cases, &polarion));
    let under = |within: &str| -> Vec<(String, String)> {
        all.iter()
            .filter(|e| e.name == "property" && e.within == within)
            .map(|e| {
                (
                    e.attr("name").unwrap().into(),
                    e.attr("value").unwrap().into(),
                )
            })
            .collect()
    };
    let run = under("testsuites/properties");
    assert_eq!(run, polarion.properties());
    for (k, v) in [
        ("polarion-project-id", "CNV"),
        ("polarion-testrun-id", "nightly 4.20"),
        ("polarion-custom-env_os", "rhel9 & <co>"),
        ("polarion-response-myproduct", "cnv-test-run"),
        ("polarion-custom-isautomated", "True"),
        ("polarion-testrun-status-id", "inprogress"),
    ] {
        assert!(run.contains(&(k.into(), v.into())), "{k}={v} in {run:?}");
    }
    let suites = under("testsuites/testsuite/properties");
    assert_eq!(
        suites
            .iter()
            .filter(|(k, _)| k == "polarion-testrun-id")
            .count(),
        2,
        "on both testsuites: {suites:?}"
    );
}

/// A case run twice reports its first attempt as Surefire does: `<flakyFailure>` when the
/// second passed (the case passes), `<rerunFailure>` next to the `<failure>` when it failed
/// again; each with the attempt's message and time.
#[test]
fn a_rerun_case_reports_its_first_attempt_as_a_flaky_or_rerun_failure() {
    let first = Attempt {
        outcome: Outcome::Failed(
            "SSH timed out\nguest kernel crashed: vm: list_add corruption".into(),
        ),
        elapsed: Duration::from_secs(90),
        log: "boot\nmigrate\n".into(),
    };
    let mut passed = record(
        row("sig-virt/awd.md", 1, "paused").ids(&["CNV-15225"]),
        Outcome::Passed,
    );
    passed.earlier.push(first.clone());
    let mut failed = record(
        row("sig-virt/awd.md", 2, "postcopy").ids(&["CNV-15226"]),
        Outcome::Failed("SSH timed out again".into()),
    );
    failed.earlier.push(first);
    let xml = render_with(&[passed, failed], &PolarionRun::default());
    let all = elements(&xml);
    let inside = |case: &str, element: &str| -> Vec<&Element> {
        let at = all
            .iter()
            .position(|e| e.name == "testcase" && e.attr("name").unwrap().ends_with(case))
            .unwrap();
        all[at + 1..]
            .iter()
            .take_while(|e| e.name != "testcase")
            .filter(|e| e.name == element)
            .collect()
    };
    let flaky = inside("/paused", "flakyFailure");
    assert_eq!(flaky.len(), 1, "{xml}");
    assert!(flaky[0]
        .attr("message")
        .unwrap()
        .contains("list_add corruption"));
    assert!(inside("/paused", "failure").is_empty(), "{xml}");
    assert_eq!(inside("/postcopy", "failure").len(), 1, "{xml}");
    assert_eq!(inside("/postcopy", "rerunFailure").len(), 1, "{xml}");
    assert_eq!(inside("/postcopy", "flakyFailure").len(), 0, "{xml}");
    assert!(
        xml.contains("boot\nmigrate"),
        "the first attempt's steps are kept: {xml}"
    );
}

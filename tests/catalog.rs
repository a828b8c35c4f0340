//! The catalogue: the real STPs join cleanly with the registry, and every kind of broken
//! declaration is reported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vstp::catalog::{self, Coverage, Problem};
use vstp::plan::{self, Declaration, ManualRow};
use vstp::scenarios;
use vstp::stp;

#[test]
fn every_stp_row_has_a_scenario_and_every_scenario_a_row() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("stps");
    let catalog = catalog::load(&root, &scenarios::declarations(), scenarios::MANUAL);
    let problems: Vec<String> = catalog.problems.iter().map(ToString::to_string).collect();
    assert!(
        problems.is_empty(),
        "catalogue problems:\n{}",
        problems.join("\n")
    );
    assert_eq!(catalog.entries.len(), 29, "rows in stps/");
    let stps: std::collections::BTreeSet<&str> =
        catalog.entries.iter().map(|e| e.stp.as_str()).collect();
    assert_eq!(stps.len(), 6);
}

const FIXTURE: &str = "fixture.md";

fn plans() -> BTreeMap<String, stp::Plan> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stp/table.md");
    BTreeMap::from([(
        FIXTURE.to_string(),
        stp::parse_file(&path).expect("fixture parses"),
    )])
}

/// A declaration of `row` not written yet.
fn scenario(slug: &'static str, row: usize, row_ids: &'static [&'static str]) -> Declaration {
    plan::row(FIXTURE, row, slug)
        .ids(row_ids)
        .pending("not written")
}

fn kinds(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(ToString::to_string).collect()
}

#[test]
fn a_row_without_scenario_or_manual_reason_is_a_problem() {
    let catalog = catalog::join(&plans(), &[scenario("a", 1, &["CNV-15225"])], &[]);
    let all = kinds(&catalog.problems);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        all[0].starts_with("row without test") && all[0].contains("[CNV-15245]"),
        "{all:?}"
    );
}

#[test]
fn a_manual_reason_covers_a_row() {
    let manual = [ManualRow {
        stp: FIXTURE,
        row: 2,
        row_ids: &["CNV-15245"],
        reason: "needs a lab switch",
    }];
    let catalog = catalog::join(&plans(), &[scenario("a", 1, &["CNV-15225"])], &manual);
    assert!(
        catalog.problems.is_empty(),
        "{:?}",
        kinds(&catalog.problems)
    );
    assert_eq!(
        catalog.entries[1].coverage,
        Coverage::Manual {
            reason: "needs a lab switch".into()
        }
    );
}

#[test]
fn a_scenario_pointing_at_no_row_is_a_problem() {
    let scenarios = [
        scenario("a", 1, &["CNV-15225"]),
        scenario("b", 2, &["CNV-15245"]),
        scenario("c", 7, &["CNV-1"]),
    ];
    let all = kinds(&catalog::join(&plans(), &scenarios, &[]).problems);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].starts_with("test without row: scenario"), "{all:?}");
    assert!(
        all[0].contains("/CNV-1/c: fixture.md (") && all[0].ends_with("has 2 rows, not a row 7"),
        "{all:?}"
    );
}

#[test]
fn a_scenario_whose_row_moved_is_a_problem() {
    let scenarios = [
        scenario("a", 1, &["CNV-15245"]),
        scenario("b", 2, &["CNV-15225"]),
    ];
    let all = kinds(&catalog::join(&plans(), &scenarios, &[]).problems);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.iter().all(|p| p.contains("did the STP rows move?")),
        "{all:?}"
    );
}

#[test]
fn malformed_and_duplicate_ids_and_names_are_problems() {
    let mut dup_id = scenario("a", 1, &["CNV-15225"]);
    dup_id.test_ids = &["CNV-15225"];
    let mut bad_id = scenario("b", 2, &["CNV-15245"]);
    bad_id.test_ids = &["cnv15"];
    let same_name = bad_id;
    let all = kinds(&catalog::join(&plans(), &[dup_id, bad_id, same_name], &[]).problems);
    assert!(
        all.iter().any(|p| p.contains("`CNV-15225` declared twice")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|p| p.contains("malformed ID `cnv15`")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|p| p.contains("share the trial name")),
        "{all:?}"
    );
}

/// Polarion's importer keeps one result per test case and parameters: two scenarios reporting
/// the same ID must differ in their parameters.
#[test]
fn two_scenarios_of_one_polarion_id_need_different_parameters() {
    let problems = |a: Declaration, b: Declaration| -> Vec<String> {
        kinds(&catalog::join(&plans(), &[a, b], &[]).problems)
            .into_iter()
            .filter(|p| p.contains("Polarion"))
            .collect()
    };
    let postcopy = scenario("postcopy", 1, &["CNV-15225"]);
    let paused = scenario("paused", 1, &["CNV-15225"]);
    let same = problems(postcopy, paused);
    assert!(
        same.len() == 1
            && same[0].contains("both report Polarion test case CNV-15225")
            && same[0].contains(".parameters("),
        "{same:?}"
    );
    let apart = problems(
        postcopy.parameters(&[("migration_mode", "PostCopy")]),
        paused.parameters(&[("migration_mode", "Paused")]),
    );
    assert!(apart.is_empty(), "{apart:?}");
    let bad = problems(
        postcopy.parameters(&[("Migration Mode", "PostCopy")]),
        paused.parameters(&[("migration_mode", "")]),
    );
    assert_eq!(bad.len(), 2, "{bad:?}");
}

#[test]
fn pending_rows_are_reported_as_pending() {
    let scenarios = [
        scenario("a", 1, &["CNV-15225"]),
        scenario("b", 2, &["CNV-15245"]),
    ];
    let catalog = catalog::join(&plans(), &scenarios, &[]);
    assert_eq!(catalog.pending().count(), 2);
    let strict = catalog
        .strict_verdict()
        .expect_err("--strict passed with pending rows");
    assert!(strict.contains("2 row(s) are pending"), "{strict}");
}

/// The STPs exactly as QE publishes them, kept beside every checkout.
fn upstream_stps() -> Option<PathBuf> {
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/upstream-stps");
    tree.is_dir().then_some(tree)
}

#[test]
fn every_row_of_the_published_stps_is_automated_or_manual_with_a_reason() {
    let Some(tree) = upstream_stps() else {
        eprintln!("../shared/upstream-stps is not beside this checkout: nothing to check here");
        return;
    };
    let catalog = catalog::load(&tree, &scenarios::declarations(), scenarios::MANUAL);
    let problems: Vec<String> = catalog.problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "problems:\n{}", problems.join("\n"));
    let mut uncovered = Vec::new();
    let mut per_stp: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &catalog.entries {
        *per_stp.entry(e.stp.as_str()).or_default() += 1;
        match &e.coverage {
            Coverage::Automated { .. } => {}
            Coverage::Manual { reason } if !reason.trim().is_empty() => {}
            other => uncovered.push(format!("{}:{} {other:?}", e.stp, e.row.line)),
        }
    }
    assert!(
        uncovered.is_empty(),
        "rows not covered:\n{}",
        uncovered.join("\n")
    );
    assert_eq!(
        per_stp,
        BTreeMap::from([
            ("sig-network/hotpluggable-nad-ref.md", 5),
            ("sig-network/ip-request.md", 6),
            ("sig-network/stuntime_measurement.md", 2),
        ])
    );
    // The README beside them is no STP: a lint, never a problem.
    assert!(
        catalog
            .lints
            .iter()
            .any(|l| l.stp == "README.md" && !l.automated_here),
        "{:?}",
        catalog.lints
    );
}

/// A second plan no declaration points at, as a design-docs checkout holds many.
fn plans_with_an_untouched_one() -> BTreeMap<String, stp::Plan> {
    let mut all = plans();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stp/missing_priority.md");
    all.insert(
        "other.md".into(),
        stp::parse_file(&path).expect("fixture parses"),
    );
    all
}

#[test]
fn an_stp_no_scenario_touches_is_not_in_this_catalogue_not_a_problem() {
    let scenarios = [
        scenario("a", 1, &["CNV-15225"]).tests(&["CNV-1"]),
        scenario("b", 2, &["CNV-15245"]).tests(&["CNV-2"]),
    ];
    let catalog = catalog::join(&plans_with_an_untouched_one(), &scenarios, &[]);
    assert!(
        catalog.problems.is_empty(),
        "{:?}",
        kinds(&catalog.problems)
    );
    let untouched: Vec<&Coverage> = catalog
        .entries
        .iter()
        .filter(|e| e.stp == "other.md")
        .map(|e| &e.coverage)
        .collect();
    assert_eq!(
        untouched,
        [&Coverage::NotInCatalogue, &Coverage::NotInCatalogue]
    );
}

#[test]
fn strict_fails_on_lints_of_automated_stps_only() {
    let declared = |row_ids: &'static [&'static str]| plan::row("other.md", 1, "x").ids(row_ids);
    let only_read = catalog::join(&plans_with_an_untouched_one(), &[], &[]);
    assert!(!only_read.lints.is_empty(), "missing_priority.md has lints");
    assert_eq!(only_read.strict_verdict(), Ok(()));
    let mut automated = catalog::join(&plans_with_an_untouched_one(), &[declared(&["CNV-7"])], &[]);
    automated.entries.retain(|e| e.stp == "other.md");
    let strict = automated
        .strict_verdict()
        .expect_err("--strict passed with lints in an automated STP");
    assert!(
        strict.contains("2 lint(s) concern STPs this catalogue automates"),
        "{strict}"
    );
}

#[test]
fn a_scenario_whose_stp_is_not_in_the_tree_is_elsewhere_not_a_problem() {
    let away = plan::row("sig-x/absent.md", 1, "away")
        .ids(&["CNV-9"])
        .pending("later");
    let catalog = catalog::join(&plans(), &[away], &[]);
    assert_eq!(catalog.elsewhere.len(), 1, "{:?}", catalog.elsewhere);
    assert!(catalog.elsewhere[0].contains("sig-x/absent.md"));
    assert!(
        !kinds(&catalog.problems)
            .iter()
            .any(|p| p.contains("absent")),
        "{:?}",
        catalog.problems
    );
}

#[test]
fn a_checkout_is_read_below_its_stps_folder() {
    let checkout = std::env::temp_dir().join(format!("vstp-checkout-{}", std::process::id()));
    let nested = checkout.join("stps/sig-network");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(checkout.join("README.md"), "# not an STP\n").unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stp/table.md"),
        nested.join("t.md"),
    )
    .unwrap();
    let catalog = catalog::load(&checkout, &[], &[]);
    std::fs::remove_dir_all(&checkout).unwrap();
    let stps: Vec<&str> = catalog.entries.iter().map(|e| e.stp.as_str()).collect();
    assert_eq!(stps, ["sig-network/t.md", "sig-network/t.md"]);
    assert!(catalog.problems.is_empty(), "{:?}", catalog.problems);
}

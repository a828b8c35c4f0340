//! The STP parser on fixtures/stp/: both formats, their quirks, and its errors.

use std::path::{Path, PathBuf};

use rstest::rstest;
use vstp::stp::{self, Plan, Priority, StpError};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/stp")
        .join(name)
}

fn plan(name: &str) -> Plan {
    stp::parse_file(&fixture(name)).unwrap_or_else(|e| panic!("{name} should parse: {e:?}"))
}

fn errors(name: &str) -> Vec<StpError> {
    stp::parse_file(&fixture(name)).expect_err("fixture should not parse")
}

/// What the parser says a fixture's rows lack; the rows themselves are read regardless.
fn lints(name: &str) -> Vec<StpError> {
    plan(name).lints
}

/// (ids, tier, priority) of every row, the shape most cases compare.
fn summary(p: &Plan) -> Vec<(Vec<&str>, Option<u8>, Option<Priority>)> {
    p.rows
        .iter()
        .map(|r| {
            (
                r.ids.iter().map(String::as_str).collect(),
                r.tier,
                r.priority,
            )
        })
        .collect()
}

#[rstest]
#[case::bullets("bullets.md", vec![(vec!["VIRTSTRAT-560"], Some(2), Some(Priority::P1)), (vec!["VIRTSTRAT-561"], Some(1), Some(Priority::P0))])]
#[case::table("table.md", vec![(vec!["CNV-15225"], Some(1), Some(Priority::P0)), (vec!["CNV-15245"], Some(2), Some(Priority::P1))])]
#[case::links_and_lists("links_and_lists.md", vec![
    (vec!["CNV-67900"], Some(2), Some(Priority::P1)),
    (vec!["CNV-1", "CNV-2"], Some(2), Some(Priority::P2)),
    (vec!["CNV-10", "CNV-11"], Some(3), Some(Priority::P2)),
    (vec!["CNV-72329"], Some(1), Some(Priority::P0)),
    (vec!["CNV-20", "CNV-21"], Some(1), Some(Priority::P0)),
])]
#[case::inherited_ids("inherit.md", vec![
    (vec!["CNV-100"], Some(1), Some(Priority::P0)),
    (vec!["CNV-100"], Some(2), Some(Priority::P1)),
    (vec!["CNV-100"], Some(3), Some(Priority::P2)),
    (vec!["CNV-200"], Some(2), Some(Priority::P1)),
])]
#[case::tier_spellings("tiers.md", vec![
    (vec!["CNV-1"], Some(2), Some(Priority::P1)),
    (vec!["CNV-2"], Some(3), Some(Priority::P1)),
    (vec!["CNV-3"], Some(1), Some(Priority::P0)),
    (vec!["CNV-4"], None, Some(Priority::P2)),
])]
#[case::wrapped_and_dashes("wrapped.md", vec![(vec!["CNV-5"], Some(2), Some(Priority::P1)), (vec!["CNV-6"], Some(1), Some(Priority::P0))])]
#[case::missing_priority("missing_priority.md", vec![(vec!["CNV-7"], Some(2), None), (vec!["CNV-8"], Some(2), None)])]
fn rows_are_read(
    #[case] name: &str,
    #[case] expected: Vec<(Vec<&str>, Option<u8>, Option<Priority>)>,
) {
    assert_eq!(summary(&plan(name)), expected);
}

#[test]
fn rows_carry_lines_indices_and_texts() {
    let p = plan("bullets.md");
    assert_eq!(p.title.as_deref(), Some("Example Feature"));
    let first = &p.rows[0];
    assert_eq!((first.line, first.index), (11, 1));
    assert_eq!(
        first.story,
        "As a VM owner, I want to re-assign my VM to a different network without rebooting."
    );
    assert_eq!(
        first.scenario,
        "Verify the running VM reaches the new network without a reboot."
    );
    assert_eq!((p.rows[1].line, p.rows[1].index), (14, 2));
}

#[test]
fn wrapped_lines_are_joined() {
    let p = plan("wrapped.md");
    assert_eq!(
        p.rows[0].story,
        "As a VM owner, I want a story that is long enough to wrap onto a second line."
    );
    assert_eq!(
        p.rows[0].scenario,
        "A scenario that wraps onto an indented continuation line, and a third one."
    );
    assert_eq!(p.rows[1].story, "Plain hyphen separator.");
    assert_eq!(
        p.rows[1].scenario,
        "Bold labels. **Scenario 1** — first part."
    );
}

#[test]
fn inherited_rows_keep_their_own_lines() {
    let lines: Vec<usize> = plan("inherit.md").rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [5, 6, 7, 8]);
}

#[rstest]
#[case::bad_priority("malformed.md", 10, "unreadable priority `high`")]
#[case::bad_id("malformed.md", 11, "malformed requirement ID `cnv 11`")]
#[case::bad_bold_id("malformed.md", 14, "malformed requirement ID `CNV 12`")]
#[case::nothing_to_inherit("bad_table.md", 5, "only below a row whose IDs it inherits")]
#[case::cell_count("bad_table.md", 6, "the row has 4 cells but the header has 5")]
#[case::duplicate_id("bad_table.md", 7, "appears twice in the same row")]
#[case::bad_tier("bad_table.md", 8, "unreadable tier `Tier 7`")]
#[case::no_scenario("no_scenario.md", 3, "no `*Test Scenario:*` line")]
#[case::no_tier("tiers.md", 14, "the row gives no tier")]
#[case::no_priority("missing_priority.md", 8, "the row gives no priority")]
fn malformed_rows_are_linted_by_file_and_line(
    #[case] name: &str,
    #[case] line: usize,
    #[case] text: &str,
) {
    let all = lints(name);
    let hit = all
        .iter()
        .find(|e| e.line == line)
        .unwrap_or_else(|| panic!("no error at line {line}: {all:?}"));
    assert!(hit.message.contains(text), "{hit}");
    let shown = hit.to_string();
    assert!(
        shown.starts_with(&format!("{}:{line}: ", fixture(name).display())),
        "{shown}"
    );
}

#[test]
fn every_malformed_row_is_reported_not_just_the_first() {
    assert_eq!(lints("malformed.md").len(), 3);
    assert_eq!(lints("bad_table.md").len(), 6);
}

/// A person reading the file sees these rows; so does vstp, each with its lint.
#[rstest]
#[case::malformed("malformed.md", 4)]
#[case::bad_table("bad_table.md", 4)]
#[case::no_scenario("no_scenario.md", 1)]
fn malformed_rows_are_kept_not_dropped(#[case] name: &str, #[case] rows: usize) {
    let read = plan(name);
    assert_eq!(read.rows.len(), rows, "{:?}", read.rows);
    let indices: Vec<usize> = read.rows.iter().map(|r| r.index).collect();
    assert_eq!(indices, (1..=rows).collect::<Vec<_>>());
}

#[test]
fn a_row_without_scenario_line_keeps_its_ids_and_priority() {
    let row = &plan("no_scenario.md").rows[0];
    assert_eq!(row.ids, ["CNV-15"]);
    assert_eq!(row.priority, Some(Priority::P1));
    assert!(row.scenario.is_empty(), "{row:?}");
}

#[test]
fn well_formed_fixtures_have_no_lints() {
    for name in [
        "bullets.md",
        "table.md",
        "links_and_lists.md",
        "inherit.md",
        "wrapped.md",
    ] {
        assert_eq!(lints(name), [], "{name}");
    }
}

#[test]
fn a_file_without_traceability_section_is_a_clear_error() {
    let all = errors("no_section.md");
    assert_eq!(all.len(), 1);
    assert!(
        all[0].message.contains("no traceability section"),
        "{}",
        all[0]
    );
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let all = errors("does-not-exist.md");
    assert!(all[0].message.contains("cannot read"), "{}", all[0]);
}

/// Small deterministic generator so the fuzz cases are reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "- ",
    "  - ",
    "**",
    "**[",
    "]**",
    "[",
    "]",
    "(",
    ")",
    "|",
    " | ",
    "\\|",
    "—",
    "–",
    "-",
    ":",
    "*Test Scenario:*",
    "*Priority:*",
    "*Tier:*",
    "[Tier ",
    "[T",
    "P",
    "CNV-",
    "VIRTSTRAT-",
    "1",
    "9",
    "\n",
    "\n\n",
    "### **III. Test Scenarios & Traceability**\n",
    "#### ",
    "```\n",
    "é",
    "🙂",
    "\t",
    " ",
    "(epic)",
    ",",
];

fn mutate(rng: &mut Rng, base: &str) -> String {
    let chars: Vec<char> = base.chars().collect();
    match rng.below(3) {
        0 => chars[..rng.below(chars.len() + 1)].iter().collect(),
        1 => {
            let mut out: String = chars.iter().collect();
            for _ in 0..rng.below(20) + 1 {
                let at = rng.below(out.chars().count() + 1);
                let byte = out.char_indices().nth(at).map_or(out.len(), |(b, _)| b);
                out.insert_str(byte, TOKENS[rng.below(TOKENS.len())]);
            }
            out
        }
        _ => (0..rng.below(200))
            .map(|_| TOKENS[rng.below(TOKENS.len())])
            .collect(),
    }
}

#[test]
fn random_and_truncated_documents_never_panic() {
    let mut bases: Vec<String> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("stps")).unwrap() {
        for stp_file in std::fs::read_dir(entry.unwrap().path()).unwrap() {
            bases.push(std::fs::read_to_string(stp_file.unwrap().path()).unwrap());
        }
    }
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut parsed, mut rejected) = (0, 0);
    for case in 0..5000 {
        let base = &bases[rng.below(bases.len())];
        let doc = mutate(&mut rng, base);
        let result = std::panic::catch_unwind(|| stp::parse_str(Path::new("fuzz.md"), &doc));
        match result {
            Ok(Ok(_)) => parsed += 1,
            Ok(Err(errs)) => {
                assert!(!errs.is_empty(), "an Err must carry at least one error");
                rejected += 1;
            }
            Err(_) => panic!("parser panicked on case {case}:\n{doc}"),
        }
    }
    // Both outcomes must occur, or the generator is not exercising the parser.
    assert!(
        parsed > 100 && rejected > 100,
        "parsed {parsed}, rejected {rejected}"
    );
}

//! Format B: `| Requirement ID | Requirement Summary | Test Scenario(s) | Tier | Priority |`.

use std::ops::Range;

use super::fields::{clean, parse_tier, split_ids, strip_links, Priority, NO_PRIORITY, NO_TIER};
use super::{Parsed, RawRow};

/// Which cell holds what, found from the header row.
#[derive(Debug, Default)]
struct Columns {
    width: usize,
    id: Option<usize>,
    story: Option<usize>,
    scenario: Option<usize>,
    tier: Option<usize>,
    priority: Option<usize>,
}

impl Columns {
    fn from_header(cells: &[String]) -> Option<Columns> {
        let mut cols = Columns {
            width: cells.len(),
            ..Columns::default()
        };
        for (i, cell) in cells.iter().enumerate() {
            let h = cell.to_lowercase();
            if h.contains("scenario") {
                cols.scenario.get_or_insert(i);
            } else if h.contains("id") && cols.id.is_none() {
                cols.id = Some(i);
            } else if h.contains("summary") || h.contains("story") || h == "requirement" {
                cols.story.get_or_insert(i);
            } else if h.contains("tier") {
                cols.tier.get_or_insert(i);
            } else if h.contains("priority") {
                cols.priority.get_or_insert(i);
            }
        }
        (cols.id.is_some() && cols.scenario.is_some()).then_some(cols)
    }
}

/// Splits `| a | b \| c |` into trimmed cells, honouring `\|` escapes.
fn cells(line: &str) -> Vec<String> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t
        .strip_suffix('|')
        .filter(|r| !r.ends_with('\\'))
        .unwrap_or(t);
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                current.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    out.push(current);
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

fn is_separator(cells: &[String]) -> bool {
    cells
        .iter()
        .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
}

pub fn parse(lines: &[&str], range: Range<usize>) -> Vec<Parsed> {
    let mut out = Vec::new();
    let mut columns: Option<Columns> = None;
    let mut previous_ids: Option<Vec<String>> = None;
    for i in range.clone() {
        let row_cells = cells(lines[i]);
        if is_separator(&row_cells) {
            continue;
        }
        // A header is the row above a `|---|` line; a table without that line starts with one.
        let above_separator = i + 1 < range.end && is_separator(&cells(lines[i + 1]));
        if above_separator || columns.is_none() {
            if let Some(found) = Columns::from_header(&row_cells) {
                columns = Some(found);
                previous_ids = None;
                continue;
            }
        }
        let Some(cols) = &columns else {
            out.push(headless_row(&row_cells, i + 1));
            continue;
        };
        out.push(parse_row(cols, &row_cells, i + 1, &mut previous_ids));
    }
    out
}

/// A row of a table that has no usable header: kept, with its cells as the scenario, so that
/// it shows up where a person reads it.
fn headless_row(cells: &[String], line: usize) -> Parsed {
    Parsed {
        row: RawRow {
            line,
            scenario: clean(&cells.join(" | ")),
            ..RawRow::default()
        },
        lints: vec![(
            line,
            "table row before any header: the table needs a header with \
             `Requirement ID` and `Test Scenario` columns"
                .into(),
        )],
    }
}

/// One table row; what cannot be read is left empty and linted.
fn parse_row(
    cols: &Columns,
    cells: &[String],
    line: usize,
    previous_ids: &mut Option<Vec<String>>,
) -> Parsed {
    let mut lints = Vec::new();
    if cells.len() != cols.width {
        lints.push((
            line,
            format!(
                "the row has {} cells but the header has {}",
                cells.len(),
                cols.width
            ),
        ));
    }
    let cell = |col: Option<usize>| {
        col.and_then(|c| cells.get(c))
            .map(|text| clean(&strip_links(text)))
            .unwrap_or_default()
    };
    let mut ids = cols
        .id
        .and_then(|c| cells.get(c))
        .map(|text| split_ids(text))
        .unwrap_or_default();
    // An empty cell inherits the IDs of the row above; with no row above, the row has none,
    // which the ID checks report.
    if ids.is_empty() {
        ids = previous_ids.clone().unwrap_or_default();
    } else {
        *previous_ids = Some(ids.clone());
    }
    let tier_text = cell(cols.tier);
    let tier = parse_tier(&tier_text);
    if tier_text.is_empty() {
        lints.push((line, NO_TIER.into()));
    } else if tier.is_none() {
        lints.push((
            line,
            format!("unreadable tier `{tier_text}`: write `Tier 1`..`Tier 3` or `T1`..`T3`"),
        ));
    }
    let priority_text = cell(cols.priority);
    let priority = Priority::parse(&priority_text);
    if priority_text.is_empty() {
        lints.push((line, NO_PRIORITY.into()));
    } else if priority.is_none() {
        lints.push((
            line,
            format!("unreadable priority `{priority_text}`: write P0, P1, P2 or P3"),
        ));
    }
    let scenario = cell(cols.scenario);
    if scenario.is_empty() {
        lints.push((line, "empty test scenario cell".into()));
    }
    let row = RawRow {
        line,
        ids,
        story: cell(cols.story),
        scenario,
        tier,
        priority,
    };
    Parsed { row, lints }
}

//! Format A: `- **[ID]** — story` items with `*Test Scenario:*`, `*Tier:*`, `*Priority:*` children.

use std::ops::Range;

use super::fields::{
    clean, is_valid_id, leading_tier_tag, parse_tier, split_ids, Priority, NO_PRIORITY, NO_TIER,
};
use super::section::is_top_bullet;
use super::{Parsed, RawRow};

const SEPARATORS: [&str; 5] = ["—", "–", "--", "-", ":"];

pub fn parse(lines: &[&str], range: Range<usize>) -> Vec<Parsed> {
    let mut items: Vec<Range<usize>> = Vec::new();
    for i in range.clone() {
        if is_top_bullet(lines[i]) {
            items.push(i..i + 1);
        } else if let Some(last) = items.last_mut() {
            last.end = i + 1;
        }
    }
    items
        .into_iter()
        .filter_map(|item| parse_item(lines, item))
        .collect()
}

/// Where the text of a field goes when a continuation line follows.
#[derive(Clone, Copy, PartialEq)]
enum Field {
    Story,
    Scenario,
    Other,
}

fn parse_item(lines: &[&str], item: Range<usize>) -> Option<Parsed> {
    let line_no = item.start + 1;
    let head = bullet_text(lines[item.start]);
    let mut lints = Vec::new();
    let (ids, story) = match head_parts(head)? {
        Ok(parts) => parts,
        Err(message) => {
            lints.push((line_no, message));
            (Vec::new(), head.to_string())
        }
    };
    let mut row = RawRow {
        line: line_no,
        ids,
        story,
        ..RawRow::default()
    };
    let mut tier_line: Option<(usize, String)> = None;
    let mut priority_line: Option<(usize, String)> = None;
    let mut current = Field::Story;
    for (i, line) in lines.iter().enumerate().take(item.end).skip(item.start + 1) {
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let (is_child, content) = match text.strip_prefix("- ").or_else(|| text.strip_prefix("* "))
        {
            Some(rest) => (true, rest.trim()),
            None => (false, text),
        };
        match labelled(content).filter(|_| is_child) {
            Some((label, value)) if label.contains("scenario") => {
                row.scenario = value.to_string();
                current = Field::Scenario;
            }
            Some((label, value)) if label.contains("tier") => {
                tier_line = Some((i + 1, value.to_string()));
                current = Field::Other;
            }
            Some((label, value)) if label.contains("priority") => {
                priority_line = Some((i + 1, value.to_string()));
                current = Field::Other;
            }
            _ => append(&mut row, current, content),
        }
    }
    let mut parsed = finish(row, tier_line, priority_line);
    lints.append(&mut parsed.lints);
    parsed.lints = lints;
    Some(parsed)
}

fn append(row: &mut RawRow, field: Field, text: &str) {
    let target = match field {
        Field::Story => &mut row.story,
        Field::Scenario => &mut row.scenario,
        Field::Other => return,
    };
    if !target.is_empty() {
        target.push(' ');
    }
    target.push_str(text);
}

/// The row with its tier and priority read from the scenario tag and the child lines; what
/// cannot be read is left empty and linted.
fn finish(
    mut row: RawRow,
    tier_line: Option<(usize, String)>,
    priority_line: Option<(usize, String)>,
) -> Parsed {
    let line = row.line;
    let mut lints = Vec::new();
    if row.scenario.trim().is_empty() {
        lints.push((
            line,
            "the row has no `*Test Scenario:*` line under it".into(),
        ));
    }
    let scenario = row.scenario.clone();
    let mut scenario_text = scenario.as_str();
    let mut tier = None;
    let tagged = leading_tier_tag(&scenario).is_some();
    if let Some((tag, rest)) = leading_tier_tag(&scenario) {
        match tag {
            Ok(t) => tier = Some(t),
            Err(m) => lints.push((line, m)),
        }
        scenario_text = rest;
    }
    let tier_given = tagged || tier_line.is_some();
    if let Some((at, value)) = tier_line {
        match parse_tier(&value) {
            None => lints.push((
                at,
                format!("unreadable tier `{value}`: write 1, 2 or 3 (or `Tier 2`, `T2`)"),
            )),
            Some(from_line) if tier.is_some_and(|t| t != from_line) => lints.push((
                at,
                format!(
                    "the tier line says {from_line} but the scenario tag says {}; the tag is kept",
                    tier.unwrap_or(0)
                ),
            )),
            Some(from_line) => tier = Some(from_line),
        }
    }
    if !tier_given {
        lints.push((line, NO_TIER.into()));
    }
    if priority_line.is_none() {
        lints.push((line, NO_PRIORITY.into()));
    }
    if let Some((at, value)) = priority_line {
        row.priority = Priority::parse(&value);
        if row.priority.is_none() {
            lints.push((
                at,
                format!("unreadable priority `{value}`: write P0, P1, P2 or P3"),
            ));
        }
    }
    row.tier = tier;
    row.scenario = clean(scenario_text);
    row.story = clean(&row.story);
    if row.story.is_empty() {
        lints.push((line, "the row has no user story after its ID".into()));
    }
    Parsed { row, lints }
}

fn bullet_text(line: &str) -> &str {
    let t = line.trim_start();
    t.get(1..).unwrap_or("").trim()
}

/// Splits `**[ID](url)** — story` into IDs and story. `None` for prose bullets that are no row.
fn head_parts(head: &str) -> Option<Result<(Vec<String>, String), String>> {
    if let Some(after) = head.strip_prefix("**") {
        let Some(close) = after.find("**") else {
            return Some(Err("unclosed `**` around the requirement ID".into()));
        };
        let bold = &after[..close];
        let ids = split_ids(bold);
        // `- **Cluster Topology:** …` is prose. Anything with a bracket or a digit is meant as
        // a row, so a malformed ID like `**CNV 12**` is reported rather than skipped.
        if !bold.contains('[') && !bold.chars().any(|c| c.is_ascii_digit()) {
            return None;
        }
        let story = strip_separator(&after[close + 2..]);
        return Some(Ok((ids, story.to_string())));
    }
    let starts_like_id = head.starts_with('[')
        || head
            .split_whitespace()
            .next()
            .is_some_and(|w| is_valid_id(w.trim_end_matches([',', ':'])));
    if !starts_like_id {
        return None;
    }
    let cut = SEPARATORS[..3]
        .iter()
        .filter_map(|sep| head.find(&format!(" {sep} ")).map(|at| (at, sep.len() + 2)))
        .min();
    let Some((at, len)) = cut else {
        return Some(Err(
            "expected `- **[ID]** — user story`: no dash between the ID and the story".into(),
        ));
    };
    Some(Ok((
        split_ids(&head[..at]),
        head[at + len..].trim().to_string(),
    )))
}

fn strip_separator(text: &str) -> &str {
    let t = text.trim_start();
    for sep in SEPARATORS {
        if let Some(rest) = t.strip_prefix(sep) {
            return rest.trim();
        }
    }
    t.trim()
}

/// `*Label:* value`, `**Label:** value` or `Label: value` -> (lower-case label, value).
fn labelled(content: &str) -> Option<(String, &str)> {
    let inner = content.trim_start_matches('*');
    let colon = inner.find(':')?;
    let label = &inner[..colon];
    let plain = |c: char| c.is_alphabetic() || c == ' ' || c == '(' || c == ')' || c == '*';
    if label.trim().is_empty() || label.len() > 40 || !label.chars().all(plain) {
        return None;
    }
    let value = inner[colon + 1..].trim_start_matches('*').trim();
    Some((label.trim().trim_matches('*').to_lowercase(), value))
}

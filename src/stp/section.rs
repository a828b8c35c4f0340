//! Locating the traceability section and cutting it into bullet and table blocks.

use std::ops::Range;

/// Level and text of a markdown heading line, outside code fences.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &line[level..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some((level, rest.trim().trim_matches('*').trim()))
}

fn is_fence(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("```") || t.starts_with("~~~")
}

/// Line indices (0-based) of headings outside code fences, with their level and text.
fn headings<'a>(lines: &[&'a str]) -> Vec<(usize, usize, &'a str)> {
    let mut in_fence = false;
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if is_fence(line) {
            in_fence = !in_fence;
        } else if !in_fence {
            if let Some((level, text)) = heading(line) {
                found.push((i, level, text));
            }
        }
    }
    found
}

/// The body (0-based line range, heading excluded) of "Test Scenarios & Traceability".
pub fn traceability(lines: &[&str]) -> Option<Range<usize>> {
    let all = headings(lines);
    let (pos, &(start, level, _)) = all.iter().enumerate().find(|(_, (_, _, text))| {
        let lower = text.to_lowercase();
        lower.contains("test scenarios") && lower.contains("traceability")
    })?;
    let end = all[pos + 1..]
        .iter()
        .find(|(_, l, _)| *l <= level)
        .map_or(lines.len(), |(i, _, _)| *i);
    Some(start + 1..end)
}

/// The feature title, from `## **Title - Quality Engineering Plan**` or the first `##` heading.
pub fn title(lines: &[&str]) -> Option<String> {
    let all = headings(lines);
    let text = all
        .iter()
        .find(|(_, _, t)| t.contains("Quality Engineering Plan"))
        .or_else(|| all.iter().find(|(_, l, _)| *l == 2))?
        .2;
    let text = text.trim_end_matches("Quality Engineering Plan").trim();
    Some(text.trim_end_matches(['-', '—', '–']).trim().to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Bullets,
    Table,
}

#[derive(Debug)]
pub struct Block {
    pub kind: BlockKind,
    pub range: Range<usize>,
}

pub fn is_table_line(line: &str) -> bool {
    line.trim_start().starts_with('|')
}

/// A top-level list item: `- ` or `* ` with at most one space of indentation.
pub fn is_top_bullet(line: &str) -> bool {
    let indent = line.len() - line.trim_start().len();
    let t = line.trim_start();
    indent <= 1 && (t.starts_with("- ") || t.starts_with("* ") || t == "-" || t == "*")
}

fn is_indented(line: &str) -> bool {
    line.starts_with([' ', '\t']) && !line.trim().is_empty()
}

/// Cuts the section body into runs of table lines and runs of list items (with their indented
/// children and continuation lines). Prose and sub-headings between them are not rows.
pub fn blocks(lines: &[&str], body: Range<usize>) -> Vec<Block> {
    let mut out = Vec::new();
    let mut i = body.start;
    let mut in_fence = false;
    while i < body.end {
        let line = lines[i];
        if is_fence(line) {
            in_fence = !in_fence;
            i += 1;
            continue;
        }
        if in_fence {
            i += 1;
        } else if is_table_line(line) {
            let start = i;
            while i < body.end && is_table_line(lines[i]) {
                i += 1;
            }
            out.push(Block {
                kind: BlockKind::Table,
                range: start..i,
            });
        } else if is_top_bullet(line) {
            let start = i;
            i += 1;
            while i < body.end {
                let next = lines[i];
                let blank_inside_list =
                    next.trim().is_empty() && continues_list(lines, i + 1, body.end);
                if is_top_bullet(next) || is_indented(next) || blank_inside_list {
                    i += 1;
                } else {
                    break;
                }
            }
            out.push(Block {
                kind: BlockKind::Bullets,
                range: start..i,
            });
        } else {
            i += 1;
        }
    }
    out
}

/// After a blank line, does the list go on (another item or an indented continuation)?
fn continues_list(lines: &[&str], from: usize, end: usize) -> bool {
    lines[from.min(end)..end]
        .iter()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| is_top_bullet(l) || is_indented(l))
}

//! Cell-level grammar shared by both row formats: IDs, tiers, priorities, inline markdown.

use std::fmt;

/// Test priority as STPs write it: P0 blocks GA, P1 full coverage, P2/P3 nice to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    P0,
    P1,
    P2,
    P3,
}

impl Priority {
    pub fn parse(text: &str) -> Option<Priority> {
        match text.trim().to_ascii_uppercase().as_str() {
            "P0" => Some(Priority::P0),
            "P1" => Some(Priority::P1),
            "P2" => Some(Priority::P2),
            "P3" => Some(Priority::P3),
            _ => None,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl serde::Serialize for Priority {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `PROJECT-123`: an upper-case key (letters, digits, `_`) starting with a letter, a dash, digits.
pub fn is_valid_id(id: &str) -> bool {
    let Some((key, number)) = id.rsplit_once('-') else {
        return false;
    };
    let mut key_chars = key.chars();
    matches!(key_chars.next(), Some(c) if c.is_ascii_uppercase())
        && key_chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && !key.ends_with('-')
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// Splits an ID cell or bracket: `CNV-1, CNV-2`, `[CNV-1](url)`, `CNV-3 (epic)`.
pub fn split_ids(cell: &str) -> Vec<String> {
    let plain = strip_links(cell);
    plain
        .split([',', ';'])
        .map(|part| {
            let part = part.trim().trim_matches(['[', ']', '*', '`']).trim();
            let part = strip_suffix_ci(part, "(epic)").trim();
            part.trim_matches(['[', ']', '*', '`']).trim().to_string()
        })
        .filter(|part| !part.is_empty())
        .collect()
}

/// Errors about a row's IDs: malformed ones and duplicates within the row.
pub fn id_problems(ids: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if !is_valid_id(id) {
            problems.push(format!(
                "malformed requirement ID `{id}`: expected an upper-case key, a dash and a number, \
                 like VIRTSTRAT-560 or CNV-15972"
            ));
        } else if ids[..i].contains(id) {
            problems.push(format!(
                "requirement ID `{id}` appears twice in the same row"
            ));
        }
    }
    if ids.is_empty() {
        problems.push(
            "the row has no requirement ID: write one (like CNV-15972); a table cell may be \
             left empty only below a row whose IDs it inherits"
                .into(),
        );
    }
    problems
}

/// The lint for a row that gives no tier at all (an unreadable one is linted where written).
pub const NO_TIER: &str = "the row gives no tier (`[Tier 2]` before the scenario, or a Tier cell)";
/// The lint for a row that gives no priority at all.
pub const NO_PRIORITY: &str = "the row gives no priority (`*Priority:* P1`, or a Priority cell)";

/// Reads a tier written as `Tier 2`, `T2`, `2`, `[Tier 2]` or `[2]`.
pub fn parse_tier(text: &str) -> Option<u8> {
    let t = text.trim().trim_matches(['[', ']', '*', '.']).trim();
    let lower = t.to_ascii_lowercase();
    let digits = lower
        .strip_prefix("tier")
        .or_else(|| lower.strip_prefix('t'))
        .unwrap_or(&lower)
        .trim();
    match digits.parse::<u8>() {
        Ok(n) if (1..=3).contains(&n) => Some(n),
        _ => None,
    }
}

/// A leading `[Tier N]` or `[TN]` tag on a scenario text: (tier, rest). `None` if there is no tag.
pub fn leading_tier_tag(text: &str) -> Option<(Result<u8, String>, &str)> {
    let rest = text.trim_start().strip_prefix('[')?;
    let close = rest.find(']')?;
    let tag = &rest[..close];
    let lower = tag.trim().to_ascii_lowercase();
    if !(lower.starts_with("tier") || lower.starts_with('t')) {
        return None;
    }
    let tier = parse_tier(tag).ok_or_else(|| {
        format!("unreadable tier tag `[{tag}]`: write `[Tier 1]`, `[Tier 2]` or `[Tier 3]`")
    });
    Some((tier, rest[close + 1..].trim_start()))
}

/// Replaces markdown links `[text](url)` by `text`.
pub fn strip_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let link = after.find(']').and_then(|close| {
            let tail = &after[close + 1..];
            let url_end = tail.strip_prefix('(')?.find(')')?;
            Some((close, close + 1 + url_end + 2))
        });
        match link {
            Some((close, consumed)) => {
                out.push_str(&rest[..open]);
                out.push_str(&after[..close]);
                rest = &after[consumed..];
            }
            None => {
                out.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text of a cell or line with surrounding emphasis and whitespace removed.
pub fn clean(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip_suffix_ci<'a>(text: &'a str, suffix: &str) -> &'a str {
    let n = suffix.len();
    if text.len() >= n
        && text.is_char_boundary(text.len() - n)
        && text[text.len() - n..].eq_ignore_ascii_case(suffix)
    {
        &text[..text.len() - n]
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_links_lists_and_epics() {
        assert_eq!(split_ids("[CNV-67900](https://x/CNV-67900)"), ["CNV-67900"]);
        assert_eq!(
            split_ids("CNV-15225, CNV-15246"),
            ["CNV-15225", "CNV-15246"]
        );
        assert_eq!(split_ids("CNV-72329 (epic)"), ["CNV-72329"]);
        assert!(split_ids("  ").is_empty());
    }

    #[test]
    fn tiers_in_every_spelling() {
        for text in ["Tier 2", "T2", "2", "[Tier 2]", "tier 2", "[2]"] {
            assert_eq!(parse_tier(text), Some(2), "{text}");
        }
        assert_eq!(parse_tier("Tier 9"), None);
        assert_eq!(parse_tier("high"), None);
    }

    #[test]
    fn id_validation() {
        assert!(is_valid_id("VIRTSTRAT-560"));
        assert!(is_valid_id("VSTP-101"));
        assert!(!is_valid_id("cnv-1"));
        assert!(!is_valid_id("CNV-"));
        assert!(!is_valid_id("CNV 12"));
        let dup = id_problems(&["CNV-1".into(), "CNV-1".into()]);
        assert_eq!(dup.len(), 1, "{dup:?}");
    }
}

//! Pathname expansion of an unquoted `*`/`?` in the last component of a path, over the
//! modelled filesystem; no match leaves the word as it is (bash without `nullglob`).

use super::fs::Node;
use super::state::Shell;

pub fn expand(sh: &Shell, pattern: &str) -> Vec<String> {
    let (dir, name) = match pattern.rsplit_once('/') {
        Some((d, n)) => (Some(if d.is_empty() { "/" } else { d }), n),
        None => (None, pattern),
    };
    let Some(Node::Dir(entries)) = sh.lookup(dir.unwrap_or(".")) else {
        return vec![pattern.to_string()];
    };
    let hits: Vec<String> = entries
        .iter()
        .filter(|e| !e.starts_with('.') && matches(name.as_bytes(), e.as_bytes()))
        .map(|e| match dir {
            Some("/") => format!("/{e}"),
            Some(d) => format!("{d}/{e}"),
            None => e.clone(),
        })
        .collect();
    if hits.is_empty() {
        vec![pattern.to_string()]
    } else {
        hits
    }
}

/// `*` any run, `?` any one character.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            matches(&pattern[1..], name) || (!name.is_empty() && matches(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => matches(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => matches(&pattern[1..], &name[1..]),
        _ => false,
    }
}

//! The committed expectations (`tests/tamper/expected.tsv`): for each tamper × moment, the
//! catalogue row it is tried on, whether the row must end red, and why.

use std::path::PathBuf;

use super::tamperer::{Moment, Tamper, MOMENTS, TAMPERS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The tamper breaks a property the row guards: the row must fail or error, never pass.
    Red,
    /// It breaks nothing the row guards (the reason says why): any outcome is recorded.
    MayPass,
}

#[derive(Debug, Clone)]
pub struct Cell {
    pub tamper: Tamper,
    pub moment: Moment,
    /// The catalogue row's slug.
    pub row: String,
    pub expect: Expect,
    pub reason: String,
}

pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tamper/expected.tsv")
}

/// Every cell of the table; a malformed line, an unknown name, a missing or repeated tamper ×
/// moment is an error naming it.
pub fn cells() -> Result<Vec<Cell>, String> {
    let path = path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let cells = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut missing = Vec::new();
    for (t, tn) in TAMPERS {
        for (m, mn) in MOMENTS {
            match cells
                .iter()
                .filter(|c| c.tamper == *t && c.moment == *m)
                .count()
            {
                1 => {}
                0 => missing.push(format!("{tn} × {mn} has no line")),
                n => missing.push(format!("{tn} × {mn} has {n} lines")),
            }
        }
    }
    if missing.is_empty() {
        Ok(cells)
    } else {
        Err(format!("{}: {}", path.display(), missing.join("; ")))
    }
}

fn parse(text: &str) -> Result<Vec<Cell>, String> {
    let mut cells = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [tamper, moment, row, expect, reason] = fields[..] else {
            return Err(format!(
                "line {}: expected `tamper<TAB>moment<TAB>row<TAB>red|may-pass<TAB>reason`, got {line:?}",
                n + 1
            ));
        };
        let tamper = named(TAMPERS, tamper).ok_or_else(|| {
            format!(
                "line {}: unknown tamper {tamper:?}, one of {:?}",
                n + 1,
                names(TAMPERS)
            )
        })?;
        let moment = named(MOMENTS, moment).ok_or_else(|| {
            format!(
                "line {}: unknown moment {moment:?}, one of {:?}",
                n + 1,
                names(MOMENTS)
            )
        })?;
        let expect = match expect {
            "red" => Expect::Red,
            "may-pass" => Expect::MayPass,
            other => return Err(format!("line {}: {other:?} is not red or may-pass", n + 1)),
        };
        cells.push(Cell {
            tamper,
            moment,
            row: row.to_string(),
            expect,
            reason: reason.to_string(),
        });
    }
    Ok(cells)
}

fn named<T: Copy>(table: &[(T, &str)], name: &str) -> Option<T> {
    table.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
}

fn names<T>(table: &[(T, &'static str)]) -> Vec<&'static str> {
    table.iter().map(|(_, n)| *n).collect()
}

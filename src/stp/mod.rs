//! STP markdown -> [`Plan`]: the rows of section "III. Test Scenarios & Traceability".
//!
//! Both row formats real STPs use are read: bullet items (the current template) and tables (the
//! older one). Nothing here knows about Kubernetes. A row that lacks something the template asks
//! for (a scenario line, a tier, a well-formed ID) is still read, with a lint naming `file:line`:
//! real STP trees are written by people, and a row that disappears is worse than a row with a
//! warning. Only a file that is not an STP at all (unreadable, no traceability section) is an
//! error. The parser never panics.

mod bullets;
mod fields;
mod section;
mod table;

use std::fmt;
use std::path::{Path, PathBuf};

pub use fields::{is_valid_id, Priority};

/// One row of the traceability section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    pub file: PathBuf,
    /// 1-based line of the row's first line in `file`.
    pub line: usize,
    /// 1-based position of the row in the traceability section; with `file` it is the row's key.
    pub index: usize,
    pub ids: Vec<String>,
    pub story: String,
    pub scenario: String,
    pub tier: Option<u8>,
    pub priority: Option<Priority>,
}

/// A parsed STP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub file: PathBuf,
    /// The feature title from the `## **… - Quality Engineering Plan**` heading, when present.
    pub title: Option<String>,
    pub rows: Vec<Row>,
    /// What the rows lack or got wrong; each names `file:line`. The rows are read regardless.
    pub lints: Vec<StpError>,
}

/// A problem in an STP, located at `file:line` (line 0 = the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StpError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for StpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for StpError {}

/// Reads and parses one STP file.
pub fn parse_file(path: &Path) -> Result<Plan, Vec<StpError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![StpError {
            file: path.to_path_buf(),
            line: 0,
            message: format!("cannot read the file: {e}"),
        }]
    })?;
    parse_str(path, &text)
}

/// Parses STP markdown; `path` is only used to name locations. Every lint is collected, not
/// just the first, so that one run shows all that needs fixing. `Err` only when the text is not
/// an STP (no traceability section).
pub fn parse_str(path: &Path, text: &str) -> Result<Plan, Vec<StpError>> {
    let lines: Vec<&str> = text.lines().collect();
    let err = |line: usize, message: String| StpError {
        file: path.to_path_buf(),
        line,
        message,
    };
    let Some(body) = section::traceability(&lines) else {
        return Err(vec![err(
            0,
            "no traceability section: expected a heading such as \
             `### **III. Test Scenarios & Traceability**` followed by bullet items or a table"
                .into(),
        )]);
    };
    let mut parsed = Vec::new();
    for block in section::blocks(&lines, body.clone()) {
        parsed.extend(match block.kind {
            section::BlockKind::Bullets => bullets::parse(&lines, block.range.clone()),
            section::BlockKind::Table => table::parse(&lines, block.range.clone()),
        });
    }
    let mut lints = Vec::new();
    if parsed.is_empty() {
        lints.push(err(
            body.start + 1,
            "the traceability section holds no rows: add bullet items \
             (`- **[ID]** — story`) or a table with a `Requirement ID` column"
                .into(),
        ));
    }
    let mut rows = Vec::new();
    for (
        i,
        Parsed {
            row: raw,
            lints: found,
        },
    ) in parsed.into_iter().enumerate()
    {
        lints.extend(found.into_iter().map(|(line, message)| err(line, message)));
        lints.extend(
            fields::id_problems(&raw.ids)
                .into_iter()
                .map(|message| err(raw.line, message)),
        );
        rows.push(Row {
            file: path.to_path_buf(),
            line: raw.line,
            index: i + 1,
            ids: raw.ids,
            story: raw.story,
            scenario: raw.scenario,
            tier: raw.tier,
            priority: raw.priority,
        });
    }
    lints.sort_by_key(|e| e.line);
    Ok(Plan {
        file: path.to_path_buf(),
        title: section::title(&lines),
        rows,
        lints,
    })
}

/// A row as a block parser produces it, before it gets its file and index.
#[derive(Debug, Default)]
struct RawRow {
    line: usize,
    ids: Vec<String>,
    story: String,
    scenario: String,
    tier: Option<u8>,
    priority: Option<Priority>,
}

/// What a block parser yields for one row: the row as far as it could be read, and what it
/// lacks or got wrong as (line, message).
#[derive(Debug, Default)]
struct Parsed {
    row: RawRow,
    lints: Vec<(usize, String)>,
}

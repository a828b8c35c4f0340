//! STP markdown -> [`Plan`]: the rows of section "III. Test Scenarios & Traceability".
//!
//! Both row formats real STPs use are read: bullet items (the current template) and tables (the
//! older one). Nothing here knows about Kubernetes. Every problem is an [`StpError`] naming
//! `file:line`; the parser never skips a row silently and never panics.

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

/// Parses STP markdown; `path` is only used to name locations. Returns every error found, not
/// just the first, so that one lint run shows all that needs fixing.
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
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for block in section::blocks(&lines, body.clone()) {
        let parsed = match block.kind {
            section::BlockKind::Bullets => bullets::parse(&lines, block.range.clone()),
            section::BlockKind::Table => table::parse(&lines, block.range.clone()),
        };
        for item in parsed {
            match item {
                Ok(raw) => rows.push(raw),
                Err((line, message)) => errors.push(err(line, message)),
            }
        }
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(err(
            body.start + 1,
            "the traceability section holds no rows: add bullet items \
             (`- **[ID]** — story`) or a table with a `Requirement ID` column"
                .into(),
        ));
    }
    for raw in &rows {
        for message in fields::id_problems(&raw.ids) {
            errors.push(err(raw.line, message));
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(errors);
    }
    let rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, raw)| Row {
            file: path.to_path_buf(),
            line: raw.line,
            index: i + 1,
            ids: raw.ids,
            story: raw.story,
            scenario: raw.scenario,
            tier: raw.tier,
            priority: raw.priority,
        })
        .collect();
    Ok(Plan {
        file: path.to_path_buf(),
        title: section::title(&lines),
        rows,
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

/// What a block parser yields: a row, or (line, message).
type Parsed = Result<RawRow, (usize, String)>;

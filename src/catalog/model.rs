//! What the catalogue says: each row's coverage, the problems, the lints.

use crate::stp::Row;

/// How one STP row is covered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Coverage {
    /// Trial names of the automated scenarios.
    Automated {
        trials: Vec<String>,
    },
    /// Declared scenarios not written yet (trial names), with the first reason.
    Pending {
        trials: Vec<String>,
        reason: String,
    },
    Manual {
        reason: String,
    },
    Missing,
    /// A row of an STP that no scenario or manual row of this catalogue touches.
    NotInCatalogue,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// STP path relative to the STP root, e.g. `sig-network/nic-hotplug.md`.
    pub stp: String,
    pub row: Row,
    pub coverage: Coverage,
}

/// Everything the join found wrong; each is a reason for `coverage` and the catalogue test to fail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum Problem {
    RowWithoutTest(String),
    TestWithoutRow(String),
    BadDeclaration(String),
    Stp(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (label, message) = match self {
            Problem::RowWithoutTest(m) => ("row without test", m),
            Problem::TestWithoutRow(m) => ("test without row", m),
            Problem::BadDeclaration(m) => ("bad declaration", m),
            Problem::Stp(m) => ("STP error", m),
        };
        write!(f, "{label}: {message}")
    }
}

/// A row the parser kept although it lacks something, or a file of the tree that is no STP.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lint {
    /// STP path relative to the tree's root.
    pub stp: String,
    /// Whether the catalogue automates this STP; `--strict` fails on these lints only.
    pub automated_here: bool,
    /// `file:line: what`.
    pub message: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Catalog {
    pub entries: Vec<Entry>,
    pub problems: Vec<Problem>,
    pub lints: Vec<Lint>,
    /// Trial names (and manual rows) whose STP is not in this tree; they are not run.
    pub elsewhere: Vec<String>,
}

impl Catalog {
    pub fn pending(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.coverage, Coverage::Pending { .. }))
    }

    /// `coverage --strict`: a row only declared, not automated, fails it, and so does a lint
    /// of an STP this catalogue automates (not one of the STPs it only reads).
    pub fn strict_verdict(&self) -> Result<(), String> {
        let pending = self.pending().count();
        let lints = self.lints.iter().filter(|l| l.automated_here).count();
        match (pending, lints) {
            (0, 0) => Ok(()),
            _ => Err(format!(
                "--strict: {pending} row(s) are pending, not automated, and {lints} lint(s) \
                 concern STPs this catalogue automates"
            )),
        }
    }
}

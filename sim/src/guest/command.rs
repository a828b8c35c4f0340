//! One simple command as a dialect receives it, and what it printed: the interface between
//! the shell, which splits and sequences a command line, and the dialects that answer.

use super::Network;

/// What a command printed and how it exited.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: u32,
}

impl Output {
    pub fn ok(stdout: impl Into<String>) -> Output {
        Output {
            stdout: stdout.into(),
            ..Output::default()
        }
    }

    pub fn fail(code: u32, stderr: impl Into<String>) -> Output {
        Output {
            stderr: stderr.into(),
            code,
            ..Output::default()
        }
    }
}

/// One simple command as a dialect sees it.
pub struct Command<'a> {
    pub args: Vec<String>,
    /// What the previous command of a pipeline printed.
    pub stdin: Option<String>,
    pub background: bool,
    pub net: &'a dyn Network,
}

//! Word expansion as bash does it: quotes, backslashes, `~`, `$NAME`, `${NAME:-default}`,
//! `${#NAME}`, `$?`, `$!`, `$$`, `$(…)` and backquotes; unquoted expansions split into fields.

use brush_parser::word::{
    self, Parameter, ParameterExpr, ParameterTestType, SpecialParameter, WordPiece,
};

use brush_parser::ast;

use super::state::{unsupported, Shell};
use crate::guest::command::Output;

/// The fields one source word expands to.
#[derive(Default)]
struct Fields {
    done: Vec<String>,
    current: String,
    /// The current field exists even if empty (`''`, `"$unset"`).
    started: bool,
    /// Fields (by index in `done`, or the current one) with an unquoted `*` or `?`.
    globs: Vec<usize>,
}

impl Fields {
    fn literal(&mut self, text: &str) {
        self.current.push_str(text);
        self.started = true;
    }

    /// An unquoted expansion: split on blanks.
    fn split(&mut self, text: &str) {
        let mut parts = text.split([' ', '\t', '\n']).peekable();
        while let Some(part) = parts.next() {
            if !part.is_empty() {
                self.literal(part);
            }
            if parts.peek().is_some() && self.started {
                self.done.push(std::mem::take(&mut self.current));
                self.started = false;
            }
        }
    }

    /// Unquoted text: a pattern character makes the field a glob.
    fn unquoted(&mut self, text: &str) {
        if text.contains(['*', '?']) && !self.globs.contains(&self.done.len()) {
            self.globs.push(self.done.len());
        }
        self.literal(text);
    }

    fn finish(mut self) -> (Vec<String>, Vec<usize>) {
        if self.started {
            self.done.push(self.current);
        }
        (self.done, self.globs)
    }
}

/// The fields of several words.
pub fn fields_of(sh: &mut Shell, words: &[&ast::Word]) -> Result<Vec<String>, Output> {
    let mut args = Vec::new();
    for w in words {
        args.extend(fields(sh, &w.value)?);
    }
    Ok(args)
}

pub fn fields_all(sh: &mut Shell, words: &[ast::Word]) -> Result<Vec<String>, Output> {
    fields_of(sh, &words.iter().collect::<Vec<_>>())
}

/// One word expanded without field splitting (a redirection target, an assignment).
pub fn word(sh: &mut Shell, word: &ast::Word) -> Result<String, Output> {
    single(sh, &word.value)
}

/// Expands `text` into fields.
pub fn fields(sh: &mut Shell, text: &str) -> Result<Vec<String>, Output> {
    let mut acc = Fields::default();
    for p in pieces(text)? {
        piece(sh, &p, false, &mut acc)?;
    }
    let (fields, globs) = acc.finish();
    let mut out = Vec::new();
    for (i, field) in fields.into_iter().enumerate() {
        match globs.contains(&i) {
            true => out.extend(super::glob::expand(sh, &field)),
            false => out.push(field),
        }
    }
    Ok(out)
}

/// Expands `text` as one string (no field splitting).
pub fn single(sh: &mut Shell, text: &str) -> Result<String, Output> {
    let mut acc = Fields::default();
    for p in pieces(text)? {
        piece(sh, &p, true, &mut acc)?;
    }
    Ok(acc.current)
}

fn pieces(text: &str) -> Result<Vec<WordPiece>, Output> {
    word::parse(text, &super::syntax::options())
        .map(|ps| ps.into_iter().map(|p| p.piece).collect())
        .map_err(|_| bad_substitution(text))
}

fn piece(sh: &mut Shell, p: &WordPiece, quoted: bool, acc: &mut Fields) -> Result<(), Output> {
    match p {
        WordPiece::Text(s) if !quoted => acc.unquoted(s),
        WordPiece::Text(s) | WordPiece::SingleQuotedText(s) | WordPiece::AnsiCQuotedText(s) => {
            acc.literal(s)
        }
        WordPiece::DoubleQuotedSequence(inner) | WordPiece::GettextDoubleQuotedSequence(inner) => {
            acc.started = true;
            for i in inner {
                piece(sh, &i.piece, true, acc)?;
            }
        }
        WordPiece::EscapeSequence(s) => acc.literal(&unescape(s, quoted)),
        WordPiece::TildeExpansion(_) => {
            let home = sh.vars.get("HOME").cloned().unwrap_or_default();
            acc.literal(&home)
        }
        WordPiece::ParameterExpansion(expr) => {
            let value = parameter(sh, expr)?;
            expanded(acc, &value, quoted)
        }
        WordPiece::CommandSubstitution(s) | WordPiece::BackquotedCommandSubstitution(s) => {
            let value = substitute(sh, s);
            expanded(acc, &value, quoted)
        }
        WordPiece::ArithmeticExpression(_) => return Err(unsupported("$((…))")),
    }
    Ok(())
}

fn expanded(acc: &mut Fields, value: &str, quoted: bool) {
    if quoted {
        acc.literal(value)
    } else {
        acc.split(value)
    }
}

/// `\x`: outside quotes, `x`; inside double quotes only `\$ \` \" \\` lose the backslash.
fn unescape(s: &str, quoted: bool) -> String {
    let rest = s.strip_prefix('\\').unwrap_or(s);
    match (quoted, rest) {
        (_, "\n") => String::new(),
        (false, r) => r.to_string(),
        (true, "$" | "`" | "\"" | "\\") => rest.to_string(),
        (true, _) => s.to_string(),
    }
}

fn parameter(sh: &mut Shell, expr: &ParameterExpr) -> Result<String, Output> {
    match expr {
        ParameterExpr::Parameter {
            parameter,
            indirect: false,
        } => Ok(value(sh, parameter).unwrap_or_default()),
        ParameterExpr::UseDefaultValues {
            parameter,
            indirect: false,
            test_type,
            default_value,
        } => {
            let v = value(sh, parameter);
            let use_default = match test_type {
                ParameterTestType::UnsetOrNull => v.as_deref().unwrap_or("").is_empty(),
                ParameterTestType::Unset => v.is_none(),
            };
            match (use_default, v) {
                (false, Some(v)) => Ok(v),
                _ => single(sh, default_value.as_deref().unwrap_or("")),
            }
        }
        ParameterExpr::ParameterLength {
            parameter,
            indirect: false,
        } => Ok(value(sh, parameter)
            .unwrap_or_default()
            .chars()
            .count()
            .to_string()),
        _ => Err(bad_substitution("${…}")),
    }
}

/// A parameter's value; `None` when unset.
fn value(sh: &mut Shell, p: &Parameter) -> Option<String> {
    match p {
        Parameter::Named(name) => sh.vars.get(name).cloned(),
        Parameter::Positional(0) => Some("bash".into()),
        Parameter::Positional(_) => None,
        Parameter::Special(special) => special_value(sh, special),
        _ => None,
    }
}

fn special_value(sh: &mut Shell, p: &SpecialParameter) -> Option<String> {
    Some(match p {
        SpecialParameter::LastExitStatus => sh.status.to_string(),
        SpecialParameter::LastBackgroundProcessId => sh.last_bg?.to_string(),
        SpecialParameter::ProcessId => sh.pid().to_string(),
        SpecialParameter::ShellName => "bash".into(),
        SpecialParameter::PositionalParameterCount => "0".into(),
        SpecialParameter::CurrentOptionFlags => "hBc".into(),
        SpecialParameter::AllPositionalParameters { .. } => String::new(),
    })
}

/// `$(…)`: runs in a subshell; its stdout without trailing newlines; its stderr passes through.
fn substitute(sh: &mut Shell, script: &str) -> String {
    let out = match super::syntax::parse(script) {
        Ok(program) => sh.subshell(&program),
        Err(message) => Output::fail(2, message),
    };
    sh.status = out.code;
    sh.pass_stderr(&out.stderr);
    out.stdout.trim_end_matches('\n').to_string()
}

fn bad_substitution(text: &str) -> Output {
    Output::fail(1, format!("bash: line 1: {text}: bad substitution\n"))
}

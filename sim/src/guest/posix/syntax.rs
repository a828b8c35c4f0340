//! A command line parsed as bash parses it, and bash's words when it cannot.

use brush_parser::{ast, ParseError, ParserOptions, TokenizerError};

/// Parses `line`; on a syntax error, what `bash -c` prints (exit 2).
pub fn parse(line: &str) -> Result<ast::Program, String> {
    let options = options();
    let mut parser = brush_parser::Parser::new(std::io::Cursor::new(line), &options);
    parser.parse_program().map_err(|e| message(line, &e))
}

pub fn options() -> ParserOptions {
    ParserOptions {
        // bash's default for a non-interactive shell.
        enable_extended_globbing: false,
        ..ParserOptions::default()
    }
}

/// bash's diagnostics for `bash -c LINE` (bash 5.1, RHEL 9's).
fn message(line: &str, e: &ParseError) -> String {
    let at_end = |n: usize| format!("bash: -c: line {n}: syntax error: unexpected end of file\n");
    let lines = line.lines().count().max(1);
    match e {
        ParseError::ParsingNear(pos) => {
            let token = token_at(line, pos.index);
            let text = line.lines().nth(pos.line.saturating_sub(1)).unwrap_or(line);
            format!(
                "bash: -c: line {n}: syntax error near unexpected token `{token}'\nbash: -c: line {n}: `{text}'\n",
                n = pos.line
            )
        }
        ParseError::ParsingAtEndOfInput => at_end(lines + 1),
        ParseError::Tokenizing { inner, .. } => match inner {
            TokenizerError::UnterminatedSingleQuote(_) => quote(lines, '\''),
            TokenizerError::UnterminatedDoubleQuote(_) => quote(lines, '"'),
            TokenizerError::UnterminatedBackquote(_) => quote(lines, '`'),
            TokenizerError::UnterminatedCommandSubstitution => quote(lines, ')'),
            _ => at_end(lines + 1),
        },
    }
}

fn quote(line: usize, q: char) -> String {
    format!("bash: -c: line {line}: unexpected EOF while looking for matching `{q}'\n")
}

/// The token that starts at char `index`: an operator, or a word; `newline` at the end.
fn token_at(line: &str, index: usize) -> String {
    let rest: String = line.chars().skip(index).collect();
    let rest = rest.trim_start_matches([' ', '\t']);
    const OPERATORS: [&str; 12] = [
        "&&", "||", ";;", ">>", "<<", "<&", ">&", "|", "&", ";", "(", ")",
    ];
    if rest.is_empty() || rest.starts_with('\n') {
        return "newline".into();
    }
    if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) {
        return op.to_string();
    }
    rest.split(|c: char| c.is_whitespace() || ";&|()<>".contains(c))
        .next()
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_bash_prints_them() {
        assert_eq!(
            parse("echo )").unwrap_err(),
            "bash: -c: line 1: syntax error near unexpected token `)'\nbash: -c: line 1: `echo )'\n"
        );
        assert_eq!(
            parse("echo 'a").unwrap_err(),
            "bash: -c: line 1: unexpected EOF while looking for matching `''\n"
        );
        assert!(parse("if true; then").is_err());
        assert!(parse("a && b | c; d &").is_ok());
    }
}

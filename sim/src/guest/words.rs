//! A command line split into words and operators, honouring quotes and backslashes as bash
//! does.

/// A token: a word, or an operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Word(String),
    Op(&'static str),
}

/// Splits a command line into words and operators, honouring quotes and backslashes.
pub fn split(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("unexpected EOF while looking for matching `''".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => w.extend(chars.next()),
                        Some(c) => w.push(c),
                        None => return Err("unexpected EOF while looking for matching `\"'".into()),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            ' ' | '\t' | '\n' => tokens.extend(word.take().map(Token::Word)),
            // `2>&1`: the `&` belongs to the redirection.
            '&' if word.as_ref().is_some_and(|w| w.ends_with('>')) => {
                word.get_or_insert_with(String::new).push(c)
            }
            ';' | '|' | '&' => {
                tokens.extend(word.take().map(Token::Word));
                let op = match (c, chars.peek()) {
                    ('&', Some('&')) => "&&",
                    ('|', Some('|')) => "||",
                    (';', _) => ";",
                    ('|', _) => "|",
                    _ => "&",
                };
                if op.len() == 2 {
                    chars.next();
                }
                tokens.push(Token::Op(op));
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    tokens.extend(word.take().map(Token::Word));
    Ok(tokens)
}

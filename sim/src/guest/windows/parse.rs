//! A parser for the subset of the PowerShell language the guests are driven with: statements
//! split by `;`, pipelines split by `|`, commands with named (`-Name value`, `-Name:value`),
//! switch and positional arguments, and expressions: quoted strings, numbers, `$env:` variables,
//! comma lists, `@{…}` hashtables and `( … )` sub-pipelines followed by `.Member` and
//! `.Method(…)`. No maintained PowerShell parser exists as a Rust crate, hence this one; it
//! follows the grammar of PowerShell 5.1's language specification (§2 lexical, §8 statements)
//! for this subset only.

/// A value-producing expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Str(String),
    /// A bare word in argument mode (`notepad.exe`, `Win32_Process`, `Stop`).
    Bare(String),
    Num(i64),
    Var(String),
    List(Vec<Expr>),
    Hash(Vec<(String, Expr)>),
    Sub(Box<Pipeline>, Vec<Member>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Member {
    Prop(String),
    Call(String, Vec<Expr>),
}

/// One argument of a command: `-Name` (optionally `-Name:value`), or a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Param {
        name: String,
        value: Option<Expr>,
        at: Span,
    },
    Value(Expr, Span),
}

/// Where a token or command sits in the script: char offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Span {
    pub at: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub name: String,
    pub name_at: Span,
    pub args: Vec<Arg>,
    /// The whole command, name and arguments: what an error record underlines.
    pub extent: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    Command(Command),
    Expr(Expr, Span),
}

pub type Pipeline = Vec<Element>;

/// A parse error: the message and where, as PowerShell's ParseException reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub message: String,
    pub id: &'static str,
    pub at: usize,
}

/// Parses a script into its statements.
pub fn script(text: &str) -> Result<Vec<Pipeline>, ParseError> {
    let mut p = Parser {
        s: text.chars().collect(),
        i: 0,
    };
    let mut statements = Vec::new();
    loop {
        p.blank();
        match p.peek() {
            None => return Ok(statements),
            Some(';') => p.i += 1,
            Some(_) => statements.push(p.pipeline()?),
        }
    }
}

struct Parser {
    s: Vec<char>,
    i: usize,
}

/// Characters that end a bare word in argument mode.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '|' | ';' | '(' | ')' | ',' | '{' | '}' | '\'' | '"')
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn blank(&mut self) {
        while self.peek().is_some_and(|c| c.is_whitespace()) {
            self.i += 1;
        }
    }

    fn error(&self, message: &str, id: &'static str) -> ParseError {
        ParseError {
            message: message.to_string(),
            id,
            at: self.i,
        }
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let mut elements = vec![self.element()?];
        loop {
            self.blank();
            if self.peek() != Some('|') {
                return Ok(elements);
            }
            self.i += 1;
            self.blank();
            if matches!(self.peek(), None | Some(';') | Some(')') | Some('|')) {
                return Err(self.error("An empty pipe element is not allowed.", "EmptyPipeElement"));
            }
            elements.push(self.element()?);
        }
    }

    fn element(&mut self) -> Result<Element, ParseError> {
        self.blank();
        let start = self.i;
        match self.peek() {
            Some('(' | '$' | '\'' | '"' | '@') | Some('0'..='9') => {
                let e = self.expr()?;
                Ok(Element::Expr(e, self.span(start)))
            }
            Some(_) => self.command(),
            None => Err(self.error("An empty pipe element is not allowed.", "EmptyPipeElement")),
        }
    }

    fn span(&self, start: usize) -> Span {
        Span {
            at: start,
            len: self.i - start,
        }
    }

    fn command(&mut self) -> Result<Element, ParseError> {
        let start = self.i;
        let name = self.bare();
        let name_at = self.span(start);
        let mut args = Vec::new();
        let mut end = self.i;
        loop {
            self.blank();
            match self.peek() {
                None | Some('|' | ';' | ')' | '}') => break,
                Some('-') if self.s.get(self.i + 1).is_some_and(|c| c.is_alphabetic()) => {
                    args.push(self.param()?)
                }
                Some(_) => {
                    let at = self.i;
                    let value = self.list()?;
                    args.push(Arg::Value(value, self.span(at)));
                }
            }
            end = self.i;
        }
        let extent = Span {
            at: start,
            len: end - start,
        };
        Ok(Element::Command(Command {
            name,
            name_at,
            args,
            extent,
        }))
    }

    fn param(&mut self) -> Result<Arg, ParseError> {
        let start = self.i;
        self.i += 1;
        let mut name = String::new();
        while let Some(c) = self.peek().filter(|c| !ends_word(*c) && *c != ':') {
            name.push(c);
            self.i += 1;
        }
        let value = if self.peek() == Some(':') {
            self.i += 1;
            Some(self.list()?)
        } else {
            None
        };
        Ok(Arg::Param {
            name,
            value,
            at: self.span(start),
        })
    }

    /// A value, or several joined by commas (an array).
    fn list(&mut self) -> Result<Expr, ParseError> {
        let first = self.expr()?;
        let mut items = vec![first];
        loop {
            let save = self.i;
            self.blank();
            if self.peek() != Some(',') {
                self.i = save;
                break;
            }
            self.i += 1;
            self.blank();
            items.push(self.expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::List(items)
        })
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Some('\'') => self.single_quoted().map(Expr::Str),
            Some('"') => self.double_quoted().map(Expr::Str),
            Some('$') => {
                self.i += 1;
                Ok(Expr::Var(self.bare()))
            }
            Some('(') => self.sub(),
            Some('@') if self.s.get(self.i + 1) == Some(&'{') => self.hash(),
            Some(_) => {
                let word = self.bare();
                if word.is_empty() {
                    return Err(self.error(
                        &format!(
                            "Unexpected token '{}' in expression or statement.",
                            self.peek().unwrap_or(' ')
                        ),
                        "UnexpectedToken",
                    ));
                }
                Ok(word.parse().map(Expr::Num).unwrap_or(Expr::Bare(word)))
            }
            None => Err(self.error("Missing expression.", "ExpectedExpression")),
        }
    }

    fn bare(&mut self) -> String {
        let mut word = String::new();
        while let Some(c) = self.peek().filter(|c| !ends_word(*c)) {
            word.push(c);
            self.i += 1;
        }
        word
    }

    fn single_quoted(&mut self) -> Result<String, ParseError> {
        self.i += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                Some('\'') if self.s.get(self.i + 1) == Some(&'\'') => {
                    text.push('\'');
                    self.i += 2;
                }
                Some('\'') => {
                    self.i += 1;
                    return Ok(text);
                }
                Some(c) => {
                    text.push(c);
                    self.i += 1;
                }
                None => {
                    return Err(self.error(
                        "The string is missing the terminator: '.",
                        "TerminatorExpectedAtEndOfString",
                    ))
                }
            }
        }
    }

    /// A double-quoted string; `` ` `` escapes the next character. Variables inside are not
    /// expanded (the harness sends none).
    fn double_quoted(&mut self) -> Result<String, ParseError> {
        self.i += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                Some('`') => {
                    text.extend(self.s.get(self.i + 1));
                    self.i += 2;
                }
                Some('"') => {
                    self.i += 1;
                    return Ok(text);
                }
                Some(c) => {
                    text.push(c);
                    self.i += 1;
                }
                None => {
                    return Err(self.error(
                        "The string is missing the terminator: \".",
                        "TerminatorExpectedAtEndOfString",
                    ))
                }
            }
        }
    }

    fn sub(&mut self) -> Result<Expr, ParseError> {
        self.i += 1;
        let inner = self.pipeline()?;
        self.blank();
        if self.peek() != Some(')') {
            return Err(self.error(
                "Missing closing ')' in expression.",
                "MissingEndParenthesisInExpression",
            ));
        }
        self.i += 1;
        let mut members = Vec::new();
        while self.peek() == Some('.') {
            self.i += 1;
            let mut name = String::new();
            while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
                name.push(c);
                self.i += 1;
            }
            if self.peek() == Some('(') {
                members.push(Member::Call(name, self.call_args()?));
            } else {
                members.push(Member::Prop(name));
            }
        }
        Ok(Expr::Sub(Box::new(inner), members))
    }

    fn call_args(&mut self) -> Result<Vec<Expr>, ParseError> {
        self.i += 1;
        self.blank();
        let mut args = Vec::new();
        while self.peek() != Some(')') {
            args.push(self.expr()?);
            self.blank();
            match self.peek() {
                Some(',') => self.i += 1,
                Some(')') => {}
                _ => {
                    return Err(self.error(
                        "Missing ')' in method call.",
                        "MissingEndParenthesisInMethodCall",
                    ))
                }
            }
            self.blank();
        }
        self.i += 1;
        Ok(args)
    }

    fn hash(&mut self) -> Result<Expr, ParseError> {
        self.i += 2;
        let mut pairs = Vec::new();
        loop {
            while self.peek().is_some_and(|c| c.is_whitespace() || c == ';') {
                self.i += 1;
            }
            if self.peek() == Some('}') {
                self.i += 1;
                return Ok(Expr::Hash(pairs));
            }
            let key = match self.peek() {
                Some('\'') => self.single_quoted()?,
                _ => {
                    let mut key = String::new();
                    while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
                        key.push(c);
                        self.i += 1;
                    }
                    key
                }
            };
            self.blank();
            if key.is_empty() || self.peek() != Some('=') {
                return Err(self.error(
                    "Missing '=' operator after key in hash literal.",
                    "MissingEqualsInHashLiteral",
                ));
            }
            self.i += 1;
            self.blank();
            let value = self.list()?;
            pairs.push((key, value));
        }
    }
}

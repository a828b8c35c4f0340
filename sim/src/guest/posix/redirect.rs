//! Where a command's output goes: `>file`, `>>file`, `2>&1`, `>/dev/null`, `&>file`, `<file`,
//! here-strings, and bash's own `/dev/tcp/HOST/PORT` (a connected socket); bash applies them
//! left to right, so `>/dev/null 2>&1` silences both streams and `2>&1 >/dev/null` keeps
//! stderr on the terminal.

use brush_parser::ast::{IoFileRedirectKind as Kind, IoFileRedirectTarget as Target, IoRedirect};

use super::fs::{self, Node};
use super::state::Shell;
use crate::guest::command::Output;
use crate::guest::tcp::{self, Opened};

/// Where a file descriptor writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Sink {
    /// The shell's own standard output (the SSH channel, or the next command of a pipe).
    Out,
    Err,
    Null,
    File(String),
}

/// The standard streams of one command.
#[derive(Debug, Clone)]
pub struct Fds {
    pub out: Sink,
    pub err: Sink,
    pub input: Option<String>,
    /// Connections `/dev/tcp` redirections opened; they last as long as the command.
    pub sockets: Vec<Opened>,
}

impl Fds {
    pub fn new(input: Option<String>) -> Fds {
        Fds {
            out: Sink::Out,
            err: Sink::Err,
            input,
            sockets: Vec::new(),
        }
    }

    fn set(&mut self, fd: i32, sink: Sink) {
        match fd {
            1 => self.out = sink,
            2 => self.err = sink,
            _ => {}
        }
    }

    fn get(&self, fd: i32) -> Option<Sink> {
        match fd {
            1 => Some(self.out.clone()),
            2 => Some(self.err.clone()),
            _ => None,
        }
    }
}

/// Sets up `redirects` in order; an error is bash's message (the command does not run).
pub fn open(sh: &mut Shell, redirects: &[&IoRedirect], fds: &mut Fds) -> Result<(), Output> {
    for r in redirects {
        match r {
            IoRedirect::File(fd, kind, target) => file(sh, *fd, kind, target, fds)?,
            IoRedirect::OutputAndError(word, append) => {
                let path = super::expand::word(sh, word)?;
                let sink = sink_for(sh, &path, *append)?;
                fds.out = sink.clone();
                fds.err = sink;
            }
            IoRedirect::HereString(_, word) => {
                fds.input = Some(super::expand::word(sh, word)? + "\n")
            }
            IoRedirect::HereDocument(_, doc) => {
                let text = if doc.requires_expansion {
                    super::expand::word(sh, &doc.doc)?
                } else {
                    doc.doc.value.clone()
                };
                fds.input = Some(text);
            }
        }
    }
    Ok(())
}

fn file(
    sh: &mut Shell,
    fd: Option<i32>,
    kind: &Kind,
    target: &Target,
    fds: &mut Fds,
) -> Result<(), Output> {
    let target_text = match target {
        Target::Filename(w) | Target::Duplicate(w) => super::expand::word(sh, w)?,
        Target::Fd(n) => n.to_string(),
        Target::ProcessSubstitution(..) => {
            return Err(super::state::unsupported("process substitution"))
        }
    };
    if let Some(spec) = target_text.strip_prefix("/dev/tcp/") {
        if !matches!(kind, Kind::DuplicateOutput | Kind::DuplicateInput) {
            let opened = connect(sh, &target_text, spec)?;
            // What the peer writes on accepting is all that comes from it in the model; what
            // goes to it is not kept.
            let greeting = opened.greeting.clone();
            fds.sockets.push(opened);
            match fd.unwrap_or(if matches!(kind, Kind::Read) { 0 } else { 1 }) {
                0 => fds.input = Some(greeting),
                n => fds.set(n, Sink::Null),
            }
            return Ok(());
        }
    }
    match kind {
        Kind::Read => {
            fds.input = Some(read(sh, &target_text)?);
        }
        Kind::Write | Kind::Clobber | Kind::Append | Kind::ReadAndWrite => {
            let sink = sink_for(sh, &target_text, matches!(kind, Kind::Append))?;
            fds.set(fd.unwrap_or(1), sink);
        }
        Kind::DuplicateOutput => {
            let from: i32 = match target_text.parse() {
                Ok(n) => n,
                Err(_) => return Err(ambiguous(&target_text)),
            };
            let sink = fds.get(from).ok_or_else(|| bad_fd(from))?;
            fds.set(fd.unwrap_or(1), sink);
        }
        Kind::DuplicateInput => {}
    }
    Ok(())
}

/// bash's `/dev/tcp/HOST/PORT` (lib/sh/netopen.c netopen, _netopen6): connect() there; a
/// failure prints connect's error, then the redirection's (bash 5.1 redir.c
/// redirection_error), and the command does not run.
fn connect(sh: &mut Shell, path: &str, spec: &str) -> Result<Opened, Output> {
    let Some((host, port)) = spec.split_once('/') else {
        return Err(Output::fail(
            1,
            format!(
                "bash: line 1: {path}: bad network path specification
"
            ),
        ));
    };
    let (Ok(address), Ok(port)) = (host.parse(), port.parse::<u16>()) else {
        return Err(super::state::unsupported(
            "a /dev/tcp host or service given by name",
        ));
    };
    tcp::open(sh.guest, address, port, sh.net).map_err(|refusal| {
        sh.elapsed += refusal.seconds();
        let why = refusal.strerror();
        Output::fail(
            1,
            format!("bash: connect: {why}\nbash: line 1: {path}: {why}\n"),
        )
    })
}

fn read(sh: &Shell, path: &str) -> Result<String, Output> {
    match sh.lookup(path) {
        Some(Node::File(text)) => Ok(text),
        Some(_) => Err(Output::fail(
            1,
            format!("bash: line 1: {path}: Is a directory\n"),
        )),
        None => Err(no_such(path)),
    }
}

/// The sink for writing to `path`: truncated unless `append`; the parent must exist.
fn sink_for(sh: &mut Shell, path: &str, append: bool) -> Result<Sink, Output> {
    if path == "/dev/null" {
        return Ok(Sink::Null);
    }
    let full = fs::normalize(&sh.cwd(), path);
    let parent = full.rsplit_once('/').map(|(p, _)| p).unwrap_or("/");
    let parent = if parent.is_empty() { "/" } else { parent };
    match sh.lookup(parent) {
        Some(Node::Dir(_)) => {}
        _ => return Err(no_such(path)),
    }
    if matches!(sh.lookup(&full), Some(Node::Dir(_))) {
        return Err(Output::fail(
            1,
            format!("bash: line 1: {path}: Is a directory\n"),
        ));
    }
    let entry = sh.written.entry(full.clone()).or_default();
    if !append {
        entry.clear();
    }
    Ok(Sink::File(full))
}

/// Sends a command's output where its descriptors point.
pub fn route(sh: &mut Shell, out: Output, fds: &Fds) -> Output {
    let mut routed = Output {
        code: out.code,
        ..Output::default()
    };
    for (text, sink) in [(out.stdout, &fds.out), (out.stderr, &fds.err)] {
        match sink {
            Sink::Out => routed.stdout.push_str(&text),
            Sink::Err => routed.stderr.push_str(&text),
            Sink::Null => {}
            Sink::File(path) => sh.written.entry(path.clone()).or_default().push_str(&text),
        }
    }
    routed
}

fn no_such(path: &str) -> Output {
    Output::fail(
        1,
        format!("bash: line 1: {path}: No such file or directory\n"),
    )
}

fn ambiguous(target: &str) -> Output {
    Output::fail(1, format!("bash: line 1: {target}: ambiguous redirect\n"))
}

fn bad_fd(fd: i32) -> Output {
    Output::fail(1, format!("bash: line 1: {fd}: Bad file descriptor\n"))
}

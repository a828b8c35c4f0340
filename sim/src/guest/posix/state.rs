//! The state of one `bash -c` run: variables, `$?`, `$!`, the files it wrote, and how it
//! finds a command. The interpreter (exec.rs) fills in [`Hooks`], so the builtins and
//! programs that run commands themselves (`command`, `sudo`, `$(…)`) reach it without an import
//! cycle.

use std::collections::HashMap;

use brush_parser::ast::{self, CommandPrefixOrSuffixItem as Item, IoRedirect};

use super::fs::{self, Node, Written};
use super::packages;
use crate::guest::command::{self as cmd, Output};
use crate::guest::{lock, GuestRef, Network};

/// The interpreter's entry points.
#[derive(Clone, Copy)]
pub struct Hooks {
    /// Runs a simple command's words (builtin or program).
    pub invoke: fn(&mut Shell<'_>, Vec<String>, Option<String>) -> Output,
    /// Runs a parsed program in this shell.
    pub program: fn(&mut Shell<'_>, &ast::Program),
}

/// One `bash -c` invocation: its variables, last status, last background PID, and the files
/// it wrote.
pub struct Shell<'a> {
    pub guest: &'a GuestRef,
    pub net: &'a dyn Network,
    pub status: u32,
    pub last_bg: Option<u32>,
    pub vars: HashMap<String, String>,
    pub written: Written,
    /// `exit` ran: nothing more runs.
    pub exited: bool,
    /// Modelled seconds the line's foreground commands have taken so far (`timeout` reads it;
    /// the answer itself comes at once).
    pub elapsed: f64,
    /// Bytes the line's commands wrote to tmpfs (memory) so far.
    pub tmpfs_bytes: f64,
    /// Of those, bytes that were not zeros: only these load a live migration, since qemu sends
    /// a zero page as a flag (qemu migration/ram.c `save_zero_page`).
    pub tmpfs_nonzero: f64,
    /// Running as root (under `sudo`).
    pub root: bool,
    /// `$$`, taken when first asked.
    pid: Option<u32>,
    pub(super) out: Output,
    hooks: Hooks,
}

impl<'a> Shell<'a> {
    pub fn new(guest: &'a GuestRef, net: &'a dyn Network, hooks: Hooks) -> Shell<'a> {
        let (user, host) = {
            let g = lock(guest);
            (g.distro.default_user.to_string(), g.hostname.clone())
        };
        let vars = HashMap::from([
            ("HOME".to_string(), format!("/home/{user}")),
            ("PWD".to_string(), format!("/home/{user}")),
            ("USER".to_string(), user.clone()),
            ("LOGNAME".to_string(), user),
            ("HOSTNAME".to_string(), host),
            ("SHELL".to_string(), "/bin/bash".to_string()),
            ("PATH".to_string(), packages::PATH.join(":")),
            ("IFS".to_string(), " \t\n".to_string()),
        ]);
        Shell {
            guest,
            net,
            status: 0,
            last_bg: None,
            vars,
            written: Written::new(),
            exited: false,
            elapsed: 0.0,
            tmpfs_bytes: 0.0,
            tmpfs_nonzero: 0.0,
            root: false,
            pid: None,
            out: Output::default(),
            hooks,
        }
    }

    /// `$$`: the shell's PID (a PID of the guest's sequence; the shell ends with the line).
    pub fn pid(&mut self) -> u32 {
        let guest = self.guest;
        *self.pid.get_or_insert_with(|| {
            let g = &mut lock(guest);
            let pid = g.spawn("bash", None);
            g.processes.remove(&pid);
            pid
        })
    }

    /// Runs `program` in a copy of this shell (`$(…)`, `bash -c`): its variables do not come
    /// back, the files it writes do.
    pub fn subshell(&mut self, program: &ast::Program) -> Output {
        let mut sub = Shell {
            guest: self.guest,
            net: self.net,
            status: self.status,
            last_bg: self.last_bg,
            vars: self.vars.clone(),
            written: std::mem::take(&mut self.written),
            exited: false,
            elapsed: self.elapsed,
            tmpfs_bytes: self.tmpfs_bytes,
            tmpfs_nonzero: self.tmpfs_nonzero,
            root: self.root,
            pid: None,
            out: Output::default(),
            hooks: self.hooks,
        };
        (self.hooks.program)(&mut sub, program);
        self.written = std::mem::take(&mut sub.written);
        self.elapsed = sub.elapsed;
        self.tmpfs_bytes = sub.tmpfs_bytes;
        self.tmpfs_nonzero = sub.tmpfs_nonzero;
        sub.finish()
    }

    /// Text a nested command wrote to its stderr, which is the shell's.
    pub fn pass_stderr(&mut self, text: &str) {
        self.out.stderr.push_str(text);
    }

    pub fn finish(mut self) -> Output {
        self.out.code = self.status;
        self.out
    }

    pub fn cwd(&self) -> String {
        self.vars.get("PWD").cloned().unwrap_or_else(|| "/".into())
    }

    pub fn lookup(&self, path: &str) -> Option<Node> {
        fs::lookup(&lock(self.guest), &self.written, &self.cwd(), path)
    }

    /// Runs a command by name: a builtin, or a program of the image.
    pub fn invoke(&mut self, args: Vec<String>, input: Option<String>) -> Output {
        (self.hooks.invoke)(self, args, input)
    }

    pub fn resolve(&self, name: &str) -> Result<&'static str, Output> {
        if !name.contains('/') {
            let g = lock(self.guest);
            let path = packages::which(&g, name).ok_or_else(|| not_found(name))?;
            return packages::at(&g, &path).ok_or_else(|| not_found(name));
        }
        let full = fs::normalize(&self.cwd(), name);
        match self.lookup(&full) {
            Some(Node::Program) => {
                packages::at(&lock(self.guest), &full).ok_or_else(|| not_found(name))
            }
            Some(Node::Dir(_)) => Err(Output::fail(
                126,
                format!("bash: line 1: {name}: Is a directory\n"),
            )),
            Some(Node::File(_)) => Err(Output::fail(
                126,
                format!("bash: line 1: {name}: Permission denied\n"),
            )),
            None => Err(Output::fail(
                127,
                format!("bash: line 1: {name}: No such file or directory\n"),
            )),
        }
    }
}

/// A simple command's words, redirections and assignments, in source order.
pub struct Parts<'c> {
    pub words: Vec<&'c ast::Word>,
    pub redirects: Vec<&'c IoRedirect>,
    pub assignments: Vec<&'c ast::Assignment>,
}

pub fn parts(simple: &ast::SimpleCommand) -> Result<Parts<'_>, Output> {
    let mut p = Parts {
        words: Vec::new(),
        redirects: Vec::new(),
        assignments: Vec::new(),
    };
    let prefix = simple
        .prefix
        .iter()
        .flat_map(|p| p.0.iter())
        .map(|i| (i, true));
    let suffix = simple
        .suffix
        .iter()
        .flat_map(|s| s.0.iter())
        .map(|i| (i, false));
    // Prefixes hold only assignments and redirections, so the command word then the suffix's
    // words are the source order.
    p.words.extend(simple.word_or_name.as_ref());
    for (item, in_prefix) in prefix.chain(suffix) {
        match item {
            Item::IoRedirect(r) => p.redirects.push(r),
            Item::Word(w) => p.words.push(w),
            Item::AssignmentWord(a, _) if in_prefix => p.assignments.push(a),
            // After the command name `a=b` is an argument (`ps -o pid=,comm=`).
            Item::AssignmentWord(_, w) => p.words.push(w),
            Item::ProcessSubstitution(..) => return Err(unsupported("process substitution")),
        }
    }
    Ok(p)
}

/// bash's answer for a name that is neither a builtin nor on the PATH.
pub fn not_found(name: &str) -> Output {
    Output::fail(127, format!("bash: line 1: {name}: command not found\n"))
}

/// The program's arguments as the dialect's tools receive them.
pub fn command<'n>(
    args: Vec<String>,
    input: Option<String>,
    net: &'n dyn Network,
) -> cmd::Command<'n> {
    cmd::Command {
        args,
        stdin: input,
        background: false,
        net,
    }
}

/// A construct bash has and the model does not run.
pub fn unsupported(what: &str) -> Output {
    Output::fail(
        2,
        format!("bash: line 1: {what}: not modelled by the simulated guest\n"),
    )
}

//! Loops: `while COND; do BODY; done` and `until`, in the foreground (run round by round) and an
//! endless one (`while :`, `while true`, `until false`) in the background, where it is a
//! process that keeps doing its body. The model runs such a body once to learn what each
//! round does: what it writes to tmpfs is memory re-written round after round, at the pace
//! the round takes.

use brush_parser::ast::{self, Command, CompoundCommand as C};

use super::state::{unsupported, Shell};
use crate::guest::command::Output;
use crate::guest::lock;

/// Rounds a foreground loop may run before the model calls it endless.
const ROUNDS: u32 = 10_000;

/// The loop clause and whether it is an `until`, when `command` is one.
pub fn clause(command: &Command) -> Option<(&ast::WhileOrUntilClauseCommand, bool)> {
    match command {
        Command::Compound(C::WhileClause(w), _) => Some((w, false)),
        Command::Compound(C::UntilClause(u), _) => Some((u, true)),
        _ => None,
    }
}

/// Whether the loop's condition is a lone `:`/`true` (`false` for `until`): it never ends.
pub fn is_endless(clause: &ast::WhileOrUntilClauseCommand, until: bool) -> bool {
    let items = &clause.0 .0;
    let [ast::CompoundListItem(and_or, _)] = &items[..] else {
        return false;
    };
    let [Command::Simple(simple)] = &and_or.first.seq[..] else {
        return false;
    };
    let lone = and_or.additional.is_empty()
        && !and_or.first.bang
        && simple.prefix.is_none()
        && simple.suffix.is_none();
    let word = simple.word_or_name.as_ref().map(|w| w.value.as_str());
    let never_fails = matches!(word, Some(":" | "true"));
    lone && if until {
        word == Some("false")
    } else {
        never_fails
    }
}

// bash 5.1 execute_cmd.c execute_while_or_until
/// Runs a loop in the foreground, round by round.
pub fn run(
    sh: &mut Shell,
    clause: &ast::WhileOrUntilClauseCommand,
    until: bool,
    input: Option<&str>,
) -> Output {
    if is_endless(clause, until) {
        return unsupported("an endless loop in the foreground (it would never answer)");
    }
    let mut out = Output::default();
    // bash: the loop's status is its body's last, 0 when the body never ran.
    let mut last = 0;
    for _ in 0..ROUNDS {
        let cond = sh.list(&clause.0, input);
        append(&mut out, cond);
        if (sh.status == 0) == until || sh.exited {
            sh.status = last;
            out.code = last;
            return out;
        }
        let body = sh.list(&clause.1.list, input);
        last = body.code;
        append(&mut out, body);
        if sh.exited {
            return out;
        }
    }
    unsupported("a loop that did not end within 10000 rounds")
}

fn append(out: &mut Output, part: Output) {
    out.stdout.push_str(&part.stdout);
    out.stderr.push_str(&part.stderr);
    out.code = part.code;
}

// bash 5.1 execute_cmd.c execute_command_internal (an asynchronous command forks a subshell)
/// Starts an endless loop in the background as the process `line`; returns its PID. The
/// process dirties what one round writes to tmpfs, at the rate the round's modelled time
/// gives.
pub fn start(sh: &mut Shell, line: &str, body: &ast::CompoundList) -> u32 {
    let (elapsed, tmpfs, nonzero) = (sh.elapsed, sh.tmpfs_bytes, sh.tmpfs_nonzero);
    let vars = sh.vars.clone();
    let _ = sh.list(body, None);
    let seconds = sh.elapsed - elapsed;
    // Rewriting zeros dirties pages a migration sends for nothing (see Shell::tmpfs_nonzero).
    let dirtying = sh.tmpfs_nonzero - nonzero;
    (sh.elapsed, sh.tmpfs_bytes, sh.vars, sh.exited) = (elapsed, tmpfs, vars, false);
    sh.tmpfs_nonzero = nonzero;
    let rate = match seconds > 0.0 {
        true => dirtying / seconds,
        false => super::dd::WRITE_RATE,
    };
    // A loop that only rewrites zeros is no load at all: even its first pass costs a
    // migration nothing. (Its tmpfs file still takes memory, which `free` does not show then.)
    let load = (dirtying > 0.0).then_some((rate, dirtying));
    lock(sh.guest).spawn(line, load)
}

/// A parsed `bash -c` script that is one endless loop: its body.
pub fn endless_body(program: &ast::Program) -> Option<&ast::CompoundList> {
    let [complete] = &program.complete_commands[..] else {
        return None;
    };
    let [ast::CompoundListItem(and_or, _)] = &complete.0[..] else {
        return None;
    };
    let [command] = &and_or.first.seq[..] else {
        return None;
    };
    let (clause, until) = clause(command)?;
    (and_or.additional.is_empty() && is_endless(clause, until)).then_some(&clause.1.list)
}

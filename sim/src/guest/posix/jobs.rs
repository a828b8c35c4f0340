//! `CMD &`: a background job. bash forks first, so `$!` is a PID even when the program turns
//! out not to exist (the job then exits at once with 127 and its error on its own stderr).

use brush_parser::ast;

use super::redirect::{self, Fds};
use super::state::{self, Shell};
use crate::guest::command::Output;
use crate::guest::lock;

/// Wrappers that exec the command they are given: the job's process is the command's.
const WRAPPERS: &[&str] = &["nohup", "sudo", "exec"];

pub fn start(sh: &mut Shell, simple: &ast::SimpleCommand) -> Output {
    let parts = match state::parts(simple) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let args = match super::expand::fields_of(sh, &parts.words) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut fds = Fds::new(None);
    // The job's time is its own, not the line's.
    let elapsed = sh.elapsed;
    let opened = redirect::open(sh, &parts.redirects, &mut fds);
    sh.elapsed = elapsed;
    if let Err(e) = opened {
        // The forked job fails its redirection and exits; `$!` is its PID all the same.
        sh.last_bg = Some(exited(sh));
        return e;
    }
    let wrapper = args
        .first()
        .filter(|a| WRAPPERS.contains(&a.as_str()))
        .cloned();
    let command: Vec<String> = args
        .into_iter()
        .skip_while(|a| WRAPPERS.contains(&a.as_str()))
        .collect();
    let Some(name) = command.first().cloned() else {
        sh.last_bg = Some(exited(sh));
        return Output::default();
    };
    match sh.resolve(&name) {
        Ok(_) if name == "ping" => {
            let root = sh.root || wrapper.as_deref() == Some("sudo");
            let path = match &fds.out {
                super::redirect::Sink::File(path) => super::fs::normalize(&sh.cwd(), path),
                _ => "/dev/null".to_string(),
            };
            let pid = lock(sh.guest).spawn(&command.join(" "), None);
            sh.last_bg = Some(pid);
            crate::guest::linux::ping_in_background(sh.guest, sh.net, &command, root, pid, path);
            Output::default()
        }
        Ok(program) => {
            let mut args = command;
            args[0] = program.to_string();
            let pid = match script_loop(&args) {
                Some(program) => match super::endless::endless_body(&program) {
                    Some(body) => super::endless::start(sh, &args.join(" "), body),
                    None => spawn(sh, args),
                },
                None => spawn(sh, args),
            };
            // The job holds the connections its redirections opened (`0<>/dev/tcp/…`).
            let g = &mut lock(sh.guest);
            for opened in fds.sockets {
                crate::guest::tcp::hold(g, pid, opened);
            }
            sh.last_bg = Some(pid);
            Output::default()
        }
        Err(_) if super::builtins::is_builtin(&name) && wrapper.is_none() => {
            sh.last_bg = Some(exited(sh));
            let out = sh.invoke(command, None);
            redirect::route(sh, out, &fds)
        }
        Err(not_found) => {
            sh.last_bg = Some(exited(sh));
            let message = match wrapper.as_deref() {
                Some("nohup") => {
                    format!("nohup: failed to run command '{name}': No such file or directory\n")
                }
                Some("sudo") => format!("sudo: {name}: command not found\n"),
                _ => not_found.stderr,
            };
            redirect::route(sh, Output::fail(127, message), &fds)
        }
    }
}

fn spawn(sh: &mut Shell, args: Vec<String>) -> u32 {
    let cmd = state::command(args, None, sh.net);
    crate::guest::linux::start_background(sh.guest, &cmd)
}

/// The script of `bash -c SCRIPT` / `sh -c SCRIPT`, parsed.
fn script_loop(args: &[String]) -> Option<brush_parser::ast::Program> {
    match args {
        [shell, c, script, ..] if matches!(shell.as_str(), "bash" | "sh") && c == "-c" => {
            super::syntax::parse(script).ok()
        }
        _ => None,
    }
}

/// A PID for a job that has already exited.
fn exited(sh: &Shell) -> u32 {
    let g = &mut lock(sh.guest);
    let pid = g.spawn("bash", None);
    g.processes.remove(&pid);
    pid
}

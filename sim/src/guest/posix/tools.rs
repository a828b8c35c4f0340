//! The image's programs: coreutils over the modelled filesystem here, the wrappers `sudo`,
//! `nohup` and `bash`, and the Linux tools of the dialect (procps, iproute2, iputils, …).

use super::state::{self, Shell};
use super::{builtins, coreutils};
use crate::guest::command::Output;

/// Runs the program `args[0]` (a name from the image's package list).
pub fn run(sh: &mut Shell, args: Vec<String>, input: Option<String>) -> Output {
    let rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    match args[0].as_str() {
        // The programs of the same names as builtins behave alike for what is modelled.
        "echo" | "true" | "false" | "test" | "[" | "kill" => {
            builtins::run(sh, &args, input.as_deref()).unwrap_or_default()
        }
        "bash" | "sh" => bash(sh, &rest, input.as_deref()),
        "sudo" => sudo(sh, &rest, input),
        "nohup" => nohup(sh, &rest, input),
        "cat" | "ls" | "grep" | "head" | "wc" | "sleep" => {
            coreutils::run(sh, &args[0], &rest, input.as_deref())
        }
        "dd" => super::dd::run(sh, &rest),
        "timeout" => super::timeout::run(sh, &rest, input),
        "dnf" => super::dnf::run(sh, &rest),
        _ => crate::guest::linux::run(sh.guest, state::command(args, input, sh.net)),
    }
}

/// `bash -c LINE`, or a script on stdin.
fn bash(sh: &mut Shell, args: &[&str], input: Option<&str>) -> Output {
    let script = match args {
        ["-c", line, ..] => line.to_string(),
        [] => input.unwrap_or("").to_string(),
        [file, ..] => {
            return Output::fail(127, format!("bash: {file}: No such file or directory\n"))
        }
    };
    match super::syntax::parse(&script) {
        Ok(program) => sh.subshell(&program),
        Err(message) => Output::fail(2, message),
    }
}

/// `sudo CMD…`: the cloud user may run anything as root; the command is found on root's PATH.
fn sudo(sh: &mut Shell, args: &[&str], input: Option<String>) -> Output {
    let words: Vec<&str> = args
        .iter()
        .copied()
        .skip_while(|a| a.starts_with('-'))
        .collect();
    let Some(name) = words.first() else {
        return Output::fail(1, "usage: sudo -h | -K | -k | -V\n");
    };
    // sudo runs programs, not the shell's builtins.
    if sh.resolve(name).is_err() {
        return Output::fail(1, format!("sudo: {name}: command not found\n"));
    }
    let was_root = std::mem::replace(&mut sh.root, true);
    let out = sh.invoke(words.iter().map(|w| w.to_string()).collect(), input);
    sh.root = was_root;
    out
}

/// `nohup CMD…`: runs CMD (no terminal here, so output stays where it was sent).
fn nohup(sh: &mut Shell, args: &[&str], input: Option<String>) -> Output {
    let Some(name) = args.first() else {
        return Output::fail(
            125,
            "nohup: missing operand\nTry 'nohup --help' for more information.\n",
        );
    };
    if sh.resolve(name).is_err() {
        return Output::fail(
            127,
            format!("nohup: failed to run command '{name}': No such file or directory\n"),
        );
    }
    sh.invoke(args.iter().map(|w| w.to_string()).collect(), input)
}

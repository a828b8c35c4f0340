//! bash's builtins: `echo`, `true`, `false`, `:`, `test`/`[`, `command`, `type`, `kill`,
//! `exit`, `cd`, `pwd`, `export`, `wait`.

use super::state::Shell;
use crate::guest::command::Output;
use crate::guest::lock;

const BUILTINS: &[&str] = &[
    "echo", "true", "false", ":", "test", "[", "command", "type", "kill", "exit", "cd", "pwd",
    "export", "wait",
];

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// Runs `args` if its name is a builtin.
pub fn run(sh: &mut Shell, args: &[String], input: Option<&str>) -> Option<Output> {
    let rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    Some(match args[0].as_str() {
        "echo" => echo(&rest),
        "true" | ":" | "wait" => Output::ok(""),
        "false" => Output::fail(1, ""),
        "test" => super::test_cmd::run(sh, &rest, false),
        "[" => super::test_cmd::run(sh, &rest, true),
        "command" => command(sh, &rest, input),
        "type" => type_(sh, &rest),
        "kill" => kill(sh, &rest),
        "exit" => exit(sh, &rest),
        "cd" => cd(sh, &rest),
        "pwd" => Output::ok(format!("{}\n", sh.cwd())),
        "export" => export(sh, &rest),
        _ => return None,
    })
}

pub fn echo(args: &[&str]) -> Output {
    let mut newline = true;
    let mut escapes = false;
    let mut words = args;
    while let Some(flag) = words.first().filter(|w| is_echo_flag(w)) {
        newline &= !flag.contains('n');
        escapes = flag.contains('e');
        words = &words[1..];
    }
    let mut text = words.join(" ");
    if escapes {
        text = text
            .replace("\\n", "\n")
            .replace("\\t", "\t")
            .replace("\\\\", "\\");
    }
    if newline {
        text.push('\n');
    }
    Output::ok(text)
}

fn is_echo_flag(w: &str) -> bool {
    w.len() > 1 && w.starts_with('-') && w[1..].chars().all(|c| "neE".contains(c))
}

/// `command -v NAME…`, `command -V NAME…`, `command NAME ARGS…`.
fn command(sh: &mut Shell, args: &[&str], input: Option<&str>) -> Output {
    match args.first().copied() {
        Some("-v") => describe(
            sh,
            &args[1..],
            |name, path| format!("{}\n", path.unwrap_or(name)),
            |_| String::new(),
        ),
        Some("-V") => describe(sh, &args[1..], verbose, |n| {
            format!("bash: line 1: command: {n}: not found\n")
        }),
        Some(_) => sh.invoke(
            args.iter().map(|a| a.to_string()).collect(),
            input.map(str::to_string),
        ),
        None => Output::ok(""),
    }
}

fn type_(sh: &mut Shell, args: &[&str]) -> Output {
    let names: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    describe(sh, &names, verbose, |n| {
        format!("bash: line 1: type: {n}: not found\n")
    })
}

fn verbose(name: &str, path: Option<&str>) -> String {
    match path {
        None => format!("{name} is a shell builtin\n"),
        Some(p) => format!("{name} is {p}\n"),
    }
}

/// Answers for each name: `found(name, None)` for a builtin, `found(name, Some(path))` for a
/// program; `missing(name)` (on stderr, exit 1) otherwise.
fn describe(
    sh: &Shell,
    names: &[&str],
    found: impl Fn(&str, Option<&str>) -> String,
    missing: impl Fn(&str) -> String,
) -> Output {
    let mut out = Output::default();
    for name in names {
        if is_builtin(name) {
            out.stdout.push_str(&found(name, None));
        } else if let Some(path) = program_path(sh, name) {
            out.stdout.push_str(&found(name, Some(&path)));
        } else {
            out.stderr.push_str(&missing(name));
            out.code = 1;
        }
    }
    out
}

fn program_path(sh: &Shell, name: &str) -> Option<String> {
    sh.resolve(name).ok()?;
    match name.contains('/') {
        true => Some(name.to_string()),
        false => super::packages::which(&lock(sh.guest), name),
    }
}

/// `kill [-SIG | -s SIG | -0] PID…`.
fn kill(sh: &mut Shell, args: &[&str]) -> Output {
    let mut probe = false;
    let mut pids: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-0" => probe = true,
            "-s" | "-n" => i += 1,
            "-l" => {
                return Output::ok(
                    "HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM\n",
                )
            }
            a if a.starts_with('-') && pids.is_empty() => {}
            a => pids.push(a),
        }
        i += 1;
    }
    if pids.is_empty() {
        return Output::fail(2, "bash: line 1: kill: usage: kill [-s sigspec | -n signum | -sigspec] pid | jobspec ... or kill -l [sigspec]\n");
    }
    let g = &mut lock(sh.guest);
    let mut out = Output::default();
    for pid in pids {
        let Ok(p) = pid.parse::<u32>() else {
            out.stderr.push_str(&format!(
                "bash: line 1: kill: {pid}: arguments must be process or job IDs\n"
            ));
            out.code = 1;
            continue;
        };
        if !g.processes.contains_key(&p) {
            out.stderr
                .push_str(&format!("bash: line 1: kill: ({pid}) - No such process\n"));
            out.code = 1;
        } else if !probe {
            g.processes.remove(&p);
        }
    }
    out
}

fn exit(sh: &mut Shell, args: &[&str]) -> Output {
    sh.exited = true;
    match args.first() {
        None => Output::fail(sh.status, ""),
        Some(n) => match n.parse::<i64>() {
            Ok(n) => Output::fail(n.rem_euclid(256) as u32, ""),
            Err(_) => Output::fail(
                2,
                format!("bash: line 1: exit: {n}: numeric argument required\n"),
            ),
        },
    }
}

fn cd(sh: &mut Shell, args: &[&str]) -> Output {
    let home = sh.vars.get("HOME").cloned().unwrap_or_default();
    let target = args.first().map(|a| a.to_string()).unwrap_or(home);
    let full = super::fs::normalize(&sh.cwd(), &target);
    match sh.lookup(&full) {
        Some(super::fs::Node::Dir(_)) => {
            sh.vars.insert("PWD".into(), full);
            Output::ok("")
        }
        Some(_) => Output::fail(1, format!("bash: line 1: cd: {target}: Not a directory\n")),
        None => Output::fail(
            1,
            format!("bash: line 1: cd: {target}: No such file or directory\n"),
        ),
    }
}

fn export(sh: &mut Shell, args: &[&str]) -> Output {
    for a in args {
        if let Some((name, value)) = a.split_once('=') {
            sh.vars.insert(name.to_string(), value.to_string());
        }
    }
    Output::ok("")
}

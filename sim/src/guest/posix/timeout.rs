//! coreutils `timeout [-s SIG] [-k D] [--preserve-status] DURATION COMMAND [ARG]…`: runs
//! COMMAND and kills it when it outlives DURATION (exit 124). The model's commands answer at
//! once; what they would have taken is the shell's modelled `elapsed` (a connect() that no
//! one answers, a `sleep`).

use super::state::Shell;
use crate::guest::command::Output;

// coreutils 8.32 src/timeout.c main (EXIT_TIMEDOUT 124, EXIT_CANCELED 125, EXIT_ENOENT 127)
pub fn run(sh: &mut Shell, args: &[&str], input: Option<String>) -> Output {
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && args[i].len() > 1 {
        match args[i] {
            "-s" | "--signal" | "-k" | "--kill-after" => i += 2,
            _ => i += 1,
        }
    }
    let usage = || {
        Output::fail(
            125,
            "timeout: missing operand\nTry 'timeout --help' for more information.\n",
        )
    };
    let (Some(duration), Some(name)) = (args.get(i), args.get(i + 1)) else {
        return usage();
    };
    let Some(limit) = seconds(duration) else {
        return Output::fail(
            125,
            format!("timeout: invalid time interval '{duration}'\nTry 'timeout --help' for more information.\n"),
        );
    };
    // timeout execs a program: builtins such as `:` are not found.
    if sh.resolve(name).is_err() {
        return Output::fail(
            127,
            format!("timeout: failed to run command '{name}': No such file or directory\n"),
        );
    }
    let started = sh.elapsed;
    let command: Vec<String> = args[i + 1..].iter().map(|a| a.to_string()).collect();
    let out = sh.invoke(command, input);
    if limit > 0.0 && sh.elapsed - started > limit {
        // Killed by SIGTERM at the limit; what it would have printed later never came.
        sh.elapsed = started + limit;
        return Output::fail(124, "");
    }
    out
}

/// `N[smhd]` in seconds (fractions allowed; 0 disables the limit).
pub fn seconds(text: &str) -> Option<f64> {
    let (number, unit) = match text.char_indices().last()? {
        (i, c @ ('s' | 'm' | 'h' | 'd')) => (&text[..i], c),
        _ => (text, 's'),
    };
    let value: f64 = match number {
        "infinity" | "inf" => f64::INFINITY,
        n => n.parse().ok().filter(|v: &f64| *v >= 0.0)?,
    };
    let factor = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        _ => 86400.0,
    };
    Some(value * factor)
}

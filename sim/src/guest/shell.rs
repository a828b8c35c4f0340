//! The guest's command line: words with quotes, `;`, `&&`, `||`, `|`, a trailing `&`, `$!` and
//! `$?`, and redirections to /dev/null. Each word list runs in the guest's dialect.

use super::command::{Command, Output};
use super::words::{split, Token};
use super::{lock, GuestRef, Network, Os};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Join {
    Always,
    And,
    Or,
}

/// Runs a command line in `guest` as its shell would.
pub fn run(guest: &GuestRef, net: &dyn Network, line: &str) -> Output {
    if lock(guest).os == Os::Windows {
        return super::windows::run(guest, net, line);
    }
    let words = match split(line) {
        Ok(words) => words,
        Err(e) => return Output::fail(2, format!("bash: -c: line 1: {e}\n")),
    };
    let mut out = Output::default();
    let (mut last_code, mut last_bg) = (0u32, String::new());
    for (join, pipeline) in sequence(words) {
        let skip = match join {
            Join::Always => false,
            Join::And => last_code != 0,
            Join::Or => last_code == 0,
        };
        if skip {
            continue;
        }
        let mut stdin = None;
        let mut result = Output::default();
        for (args, background) in pipeline {
            let args: Vec<String> = args
                .into_iter()
                .map(|a| {
                    a.replace("$!", &last_bg)
                        .replace("$?", &last_code.to_string())
                })
                .collect();
            if args.is_empty() {
                continue;
            }
            let cmd = Command {
                args,
                stdin: stdin.take(),
                background,
                net,
            };
            if background {
                last_bg = super::linux::start_background(guest, &cmd).to_string();
                result = Output::default();
            } else {
                result = super::linux::run(guest, cmd);
            }
            out.stderr.push_str(&result.stderr);
            stdin = Some(std::mem::take(&mut result.stdout));
        }
        out.stdout.push_str(stdin.as_deref().unwrap_or(""));
        last_code = result.code;
    }
    out.code = last_code;
    out
}

type Pipeline = Vec<(Vec<String>, bool)>;

/// Groups tokens into pipelines joined by `;`, `&&`, `||`; a `&` ends a background command.
fn sequence(tokens: Vec<Token>) -> Vec<(Join, Pipeline)> {
    let mut out: Vec<(Join, Pipeline)> = Vec::new();
    let (mut join, mut pipeline, mut args): (Join, Pipeline, Vec<String>) =
        (Join::Always, Vec::new(), Vec::new());
    let finish = |join: Join,
                  pipeline: &mut Pipeline,
                  args: &mut Vec<String>,
                  bg: bool,
                  out: &mut Vec<(Join, Pipeline)>| {
        pipeline.push((strip_redirections(std::mem::take(args)), bg));
        out.push((join, std::mem::take(pipeline)));
    };
    for token in tokens {
        match token {
            Token::Word(w) => args.push(w),
            Token::Op("|") => pipeline.push((strip_redirections(std::mem::take(&mut args)), false)),
            Token::Op(op) => {
                finish(join, &mut pipeline, &mut args, op == "&", &mut out);
                join = match op {
                    "&&" => Join::And,
                    "||" => Join::Or,
                    _ => Join::Always,
                };
            }
        }
    }
    if !args.is_empty() || !pipeline.is_empty() {
        finish(join, &mut pipeline, &mut args, false, &mut out);
    }
    out
}

/// Drops `>/dev/null`, `2>&1`, `2>/dev/null` and the like: output to nowhere.
fn strip_redirections(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for a in args {
        if skip_next {
            skip_next = false;
            continue;
        }
        let is_redirect =
            a.starts_with('>') || a.starts_with("1>") || a.starts_with("2>") || a == "<";
        if is_redirect {
            skip_next = matches!(a.as_str(), ">" | "1>" | "2>" | "<");
            continue;
        }
        out.push(a);
    }
    // Prefixes that change nothing in the model.
    while matches!(
        out.first().map(String::as_str),
        Some("sudo" | "nohup" | "exec")
    ) {
        out.remove(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<(Join, Pipeline)> {
        sequence(split(line).unwrap())
    }

    #[test]
    fn quotes_operators_and_background_split_like_bash() {
        let seq = words(
            r#"stress-ng --vm 1 --vm-bytes 350M --vm-keep >/dev/null 2>&1 & echo "$!"; grep 'Mem Total' /proc/meminfo && echo a\ b || true"#,
        );
        assert_eq!(seq.len(), 5);
        assert_eq!(seq[4].0, Join::Or);
        assert_eq!(
            seq[0].1[0],
            (
                vec![
                    "stress-ng".into(),
                    "--vm".into(),
                    "1".into(),
                    "--vm-bytes".into(),
                    "350M".into(),
                    "--vm-keep".into()
                ],
                true
            )
        );
        assert_eq!(seq[1].1[0].0, vec!["echo".to_string(), "$!".into()]);
        assert_eq!(
            seq[2].1[0].0,
            vec![
                "grep".to_string(),
                "Mem Total".into(),
                "/proc/meminfo".into()
            ]
        );
        assert_eq!(seq[3].0, Join::And);
        assert_eq!(seq[3].1[0].0, vec!["echo".to_string(), "a b".into()]);
    }

    #[test]
    fn pipes_group_into_one_pipeline() {
        let seq = words("cat /proc/stat | grep btime");
        assert_eq!(seq.len(), 1);
        assert_eq!(seq[0].1.len(), 2);
    }

    #[test]
    fn an_open_quote_is_an_error() {
        assert!(split("echo 'oops").is_err());
    }
}

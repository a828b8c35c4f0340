//! coreutils and grep over the modelled filesystem: `cat`, `ls`, `grep`, `head`, `wc`, `sleep`.

use super::fs::Node;
use super::state::Shell;
use crate::guest::command::Output;

pub fn run(sh: &mut Shell, program: &str, args: &[&str], input: Option<&str>) -> Output {
    match program {
        "cat" => cat(sh, args, input),
        "ls" => ls(sh, args),
        "grep" => grep(sh, args, input),
        "head" => head(sh, args, input),
        "wc" => wc(sh, args, input),
        _ => sleep(sh, args),
    }
}

fn invalid_option(program: &str, flag: &str) -> Output {
    let c = flag.trim_start_matches('-').chars().next().unwrap_or('-');
    Output::fail(
        2,
        format!(
            "{program}: invalid option -- '{c}'\nTry '{program} --help' for more information.\n"
        ),
    )
}

/// The text of `path`, or the program's complaint about it.
fn read(sh: &Shell, program: &str, path: &str) -> Result<String, String> {
    match sh.lookup(path) {
        Some(Node::File(text)) => Ok(text),
        // A binary; its bytes are not modelled.
        Some(Node::Program) => Ok(String::new()),
        Some(Node::Dir(_)) => Err(format!("{program}: {path}: Is a directory\n")),
        None => Err(format!("{program}: {path}: No such file or directory\n")),
    }
}

fn cat(sh: &Shell, args: &[&str], input: Option<&str>) -> Output {
    let mut out = Output::default();
    if let Some(flag) = args.iter().find(|a| a.starts_with('-') && a.len() > 1) {
        return invalid_option("cat", flag);
    }
    if args.is_empty() {
        return Output::ok(input.unwrap_or(""));
    }
    for path in args {
        match read(sh, "cat", path) {
            Ok(text) => out.stdout.push_str(&text),
            Err(e) => {
                out.stderr.push_str(&e);
                out.code = 1;
            }
        }
    }
    out
}

/// `ls [-1adl] [PATH…]`: one name a line (the output is not a terminal).
fn ls(sh: &Shell, args: &[&str]) -> Output {
    let (flags, mut paths): (Vec<&str>, Vec<&str>) =
        args.iter().partition(|a| a.starts_with('-') && a.len() > 1);
    let letters: String = flags.iter().map(|f| f.trim_start_matches('-')).collect();
    if let Some(bad) = letters.chars().find(|c| !"1adlA".contains(*c)) {
        return invalid_option("ls", &bad.to_string());
    }
    if paths.is_empty() {
        paths.push(".");
    }
    let (long, all, dir_itself) = (
        letters.contains('l'),
        letters.contains('a'),
        letters.contains('d'),
    );
    let mut out = Output::default();
    let many = paths.len() > 1;
    for (i, path) in paths.iter().enumerate() {
        match sh.lookup(path) {
            None => {
                out.stderr.push_str(&format!(
                    "ls: cannot access '{path}': No such file or directory\n"
                ));
                out.code = 2;
            }
            Some(Node::Dir(entries)) if !dir_itself => {
                if many {
                    let sep = if i > 0 { "\n" } else { "" };
                    out.stdout.push_str(&format!("{sep}{path}:\n"));
                }
                let dots = all.then(|| [".".to_string(), "..".to_string()]);
                for name in dots.into_iter().flatten().chain(entries) {
                    out.stdout.push_str(&entry(long, &name, None));
                }
            }
            Some(node) => out.stdout.push_str(&entry(long, path, Some(&node))),
        }
    }
    out
}

fn entry(long: bool, name: &str, node: Option<&Node>) -> String {
    if !long {
        return format!("{name}\n");
    }
    let (mode, size) = match node {
        Some(Node::File(t)) => ("-rw-r--r--", t.len()),
        Some(Node::Program) => ("-rwxr-xr-x", 0),
        _ => ("drwxr-xr-x", 4096),
    };
    format!("{mode}. 1 root root {size:>6} Jan  1 00:00 {name}\n")
}

fn grep(sh: &Shell, args: &[&str], input: Option<&str>) -> Output {
    let flags: String = args
        .iter()
        .filter(|a| a.starts_with('-') && a.len() > 1)
        .map(|a| a.trim_start_matches('-'))
        .collect();
    if let Some(bad) = flags.chars().find(|c| !"qvicFE".contains(*c)) {
        return Output::fail(2, format!("grep: invalid option -- '{bad}'\nUsage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n"));
    }
    let rest: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-') || a.len() == 1)
        .collect();
    let Some(pattern) = rest.first() else {
        return Output::fail(
            2,
            "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n",
        );
    };
    let text = match rest.get(1) {
        Some(f) => match read(sh, "grep", f) {
            Ok(t) => t,
            Err(e) => return Output::fail(2, e),
        },
        None => input.unwrap_or("").to_string(),
    };
    let matcher = Matcher::new(pattern, flags.contains('i'));
    let invert = flags.contains('v');
    let hits: Vec<&str> = text.lines().filter(|l| matcher.hit(l) != invert).collect();
    let count = flags.contains('c');
    match (hits.is_empty(), flags.contains('q')) {
        (true, _) if count => Output {
            stdout: "0\n".into(),
            stderr: String::new(),
            code: 1,
        },
        (true, _) => Output::fail(1, ""),
        (false, true) => Output::ok(""),
        (false, false) if count => Output::ok(format!("{}\n", hits.len())),
        (false, false) => Output::ok(hits.iter().map(|l| format!("{l}\n")).collect::<String>()),
    }
}

/// A fixed string with optional `^` and `$` anchors (what the patterns in use need).
struct Matcher {
    needle: String,
    start: bool,
    end: bool,
    fold: bool,
}

impl Matcher {
    fn new(pattern: &str, fold: bool) -> Matcher {
        let start = pattern.starts_with('^');
        let end = pattern.ends_with('$') && pattern.len() > 1;
        let mut needle = pattern.trim_start_matches('^').to_string();
        if end {
            needle.pop();
        }
        if fold {
            needle = needle.to_lowercase();
        }
        Matcher {
            needle,
            start,
            end,
            fold,
        }
    }

    fn hit(&self, line: &str) -> bool {
        let line = if self.fold {
            line.to_lowercase()
        } else {
            line.to_string()
        };
        match (self.start, self.end) {
            (true, true) => line == self.needle,
            (true, false) => line.starts_with(&self.needle),
            (false, true) => line.ends_with(&self.needle),
            (false, false) => line.contains(&self.needle),
        }
    }
}

/// The text of the named files, or stdin.
fn gather(
    sh: &Shell,
    program: &str,
    files: &[&str],
    input: Option<&str>,
) -> Result<String, Output> {
    if files.is_empty() {
        return Ok(input.unwrap_or("").to_string());
    }
    let mut text = String::new();
    for f in files {
        text.push_str(&read(sh, program, f).map_err(|e| Output::fail(1, e))?);
    }
    Ok(text)
}

/// `head [-n N | -N] [FILE…]`.
fn head(sh: &Shell, args: &[&str], input: Option<&str>) -> Output {
    let mut count = 10usize;
    let mut files = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-n" => {
                let n = args.get(i + 1).copied().unwrap_or("");
                match n.parse() {
                    Ok(n) => count = n,
                    Err(_) => {
                        return Output::fail(1, format!("head: invalid number of lines: '{n}'\n"))
                    }
                }
                i += 1;
            }
            a if a.starts_with('-') && a[1..].parse::<usize>().is_ok() => {
                count = a[1..].parse().unwrap_or(10)
            }
            a if a.starts_with('-') && a.len() > 1 => return invalid_option("head", a),
            a => files.push(a),
        }
        i += 1;
    }
    match gather(sh, "head", &files, input) {
        Ok(text) => Output::ok(
            text.lines()
                .take(count)
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        ),
        Err(e) => e,
    }
}

/// `wc -l` / `-w` / `-c` of stdin or files.
fn wc(sh: &Shell, args: &[&str], input: Option<&str>) -> Output {
    let (flags, files): (Vec<&str>, Vec<&str>) =
        args.iter().partition(|a| a.starts_with('-') && a.len() > 1);
    let text = match gather(sh, "wc", &files, input) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let counts = [
        ('l', text.matches('\n').count()),
        ('w', text.split_whitespace().count()),
        ('c', text.len()),
    ];
    let letters: String = flags.iter().map(|f| f.trim_start_matches('-')).collect();
    if let Some(bad) = letters.chars().find(|c| !"lwc".contains(*c)) {
        return invalid_option("wc", &bad.to_string());
    }
    let shown: Vec<String> = counts
        .iter()
        .filter(|(c, _)| letters.is_empty() || letters.contains(*c))
        .map(|(_, n)| n.to_string())
        .collect();
    let width = if shown.len() > 1 { 7 } else { 0 };
    let line: Vec<String> = shown.iter().map(|n| format!("{n:>width$}")).collect();
    Output::ok(format!("{}\n", line.join(" ")))
}

/// `sleep N[smhd]…`: answers at once, its time counted in the line's modelled time; the SSH
/// server holds the channel open for a lone foreground `sleep` on the scaled clock
/// (guest/ssh.rs).
fn sleep(sh: &mut Shell, args: &[&str]) -> Output {
    if args.is_empty() {
        return Output::fail(
            1,
            "sleep: missing operand\nTry 'sleep --help' for more information.\n",
        );
    }
    let mut total = 0.0;
    for a in args {
        match super::timeout::seconds(a) {
            Some(s) => total += s,
            None => return Output::fail(1, format!("sleep: invalid time interval '{a}'\nTry 'sleep --help' for more information.\n")),
        }
    }
    sh.elapsed += total;
    Output::ok("")
}

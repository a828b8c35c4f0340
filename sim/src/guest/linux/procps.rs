//! procps-ng `ps` and `pgrep`: selections (`-p`, `-e`, `a`/`x`), formats (default, `-f`, `u`,
//! `-o`), column widths as procps prints them with the kernel's default pid_max (5-wide PIDs,
//! as in fixtures/guest/linux/ps_*.txt), and its usage errors.

use crate::guest::command::Output;
use crate::guest::posix::procfs::comm;
use crate::guest::Guest;

/// A column: its key, header, width and alignment (procps ps/output.c format_array).
struct Col {
    key: &'static str,
    header: &'static str,
    width: usize,
    right: bool,
}

const COLS: &[Col] = &[
    Col {
        key: "pid",
        header: "PID",
        width: 5,
        right: true,
    },
    Col {
        key: "ppid",
        header: "PPID",
        width: 5,
        right: true,
    },
    Col {
        key: "user",
        header: "USER",
        width: 8,
        right: false,
    },
    Col {
        key: "uid",
        header: "UID",
        width: 8,
        right: false,
    },
    Col {
        key: "%cpu",
        header: "%CPU",
        width: 4,
        right: true,
    },
    Col {
        key: "%mem",
        header: "%MEM",
        width: 4,
        right: true,
    },
    Col {
        key: "vsz",
        header: "VSZ",
        width: 6,
        right: true,
    },
    Col {
        key: "rss",
        header: "RSS",
        width: 5,
        right: true,
    },
    Col {
        key: "c",
        header: "C",
        width: 2,
        right: true,
    },
    Col {
        key: "stime",
        header: "STIME",
        width: 5,
        right: false,
    },
    Col {
        key: "start",
        header: "START",
        width: 5,
        right: false,
    },
    Col {
        key: "tty",
        header: "TTY",
        width: 8,
        right: false,
    },
    Col {
        key: "tt",
        header: "TT",
        width: 8,
        right: false,
    },
    Col {
        key: "stat",
        header: "STAT",
        width: 4,
        right: false,
    },
    Col {
        key: "time",
        header: "TIME",
        width: 8,
        right: true,
    },
    Col {
        key: "bsdtime",
        header: "TIME",
        width: 6,
        right: true,
    },
    Col {
        key: "comm",
        header: "COMMAND",
        width: 15,
        right: false,
    },
    Col {
        key: "ucmd",
        header: "CMD",
        width: 15,
        right: false,
    },
    Col {
        key: "args",
        header: "COMMAND",
        width: 27,
        right: false,
    },
    Col {
        key: "cmd",
        header: "CMD",
        width: 27,
        right: false,
    },
    Col {
        key: "command",
        header: "COMMAND",
        width: 27,
        right: false,
    },
];

const DEFAULT: &[&str] = &["pid", "tty", "time", "ucmd"];
const FULL: &[&str] = &["uid", "pid", "ppid", "c", "stime", "tty", "time", "cmd"];
const USER: &[&str] = &[
    "user", "pid", "%cpu", "%mem", "vsz", "rss", "tty", "stat", "start", "bsdtime", "command",
];

/// What the command line asked for.
#[derive(Default)]
struct Request {
    pids: Option<Vec<u32>>,
    full: bool,
    user: bool,
    /// `-o` columns, each with its header (`pid=` has none).
    columns: Vec<(String, Option<String>)>,
}

pub fn ps(g: &Guest, args: &[&str]) -> Output {
    let request = match parse(args) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let columns: Vec<(&Col, Option<String>)> = match columns(&request) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let pids: Vec<u32> = g
        .processes
        .keys()
        .copied()
        .filter(|p| request.pids.as_ref().is_none_or(|want| want.contains(p)))
        .collect();
    let mut out = String::new();
    if columns
        .iter()
        .any(|(_, h)| h.as_deref().is_some_and(|h| !h.is_empty()))
    {
        let headers: Vec<String> = columns
            .iter()
            .map(|(_, h)| h.clone().unwrap_or_default())
            .collect();
        out.push_str(&row(&columns, &headers));
    }
    for pid in &pids {
        let values: Vec<String> = columns.iter().map(|(c, _)| value(g, *pid, c.key)).collect();
        out.push_str(&row(&columns, &values));
    }
    Output {
        stdout: out,
        stderr: String::new(),
        code: u32::from(pids.is_empty()),
    }
}

fn row(columns: &[(&Col, Option<String>)], values: &[String]) -> String {
    let last = columns.len().saturating_sub(1);
    let cells: Vec<String> = columns
        .iter()
        .zip(values)
        .enumerate()
        .map(|(i, ((c, _), v))| match (c.right, i == last) {
            (true, _) => format!("{v:>w$}", w = c.width),
            (false, true) => v.clone(),
            (false, false) => format!("{v:<w$}", w = c.width),
        })
        .collect();
    cells.join(" ").trim_end().to_string() + "\n"
}

fn parse(args: &[&str]) -> Result<Request, Output> {
    let mut r = Request::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        let value = args.get(i + 1).copied();
        match a {
            "-p" | "--pid" | "q" | "-q" | "-o" | "o" | "--format" if value.is_none() => {
                return Err(usage_sysv())
            }
            "-p" | "--pid" | "q" | "-q" => {
                r.pids = Some(pid_list(value.unwrap_or_default())?);
                i += 1;
            }
            "-o" | "o" | "--format" => {
                r.columns.extend(spec(value.unwrap_or_default()));
                i += 1;
            }
            "-e" | "-A" | "-ef" | "-eF" => r.full |= a.contains('f'),
            "-f" => r.full = true,
            "--no-headers" | "--no-heading" | "h" => {}
            a if a.starts_with("-p") => r.pids = Some(pid_list(&a[2..])?),
            a if a.starts_with("-o") => r.columns.extend(spec(&a[2..])),
            a if a.starts_with('-') => return Err(usage_sysv()),
            a if a.chars().all(|c| "auxwe".contains(c)) => r.user |= a.contains('u'),
            _ => return Err(usage("error: unsupported option (BSD syntax)")),
        }
        i += 1;
    }
    Ok(r)
}

fn spec(text: &str) -> Vec<(String, Option<String>)> {
    text.split(',')
        .map(|c| match c.split_once('=') {
            Some((key, header)) => (key.to_string(), Some(header.to_string())),
            None => (c.to_string(), None),
        })
        .collect()
}

fn pid_list(text: &str) -> Result<Vec<u32>, Output> {
    text.split(',')
        .map(|p| {
            p.parse()
                .map_err(|_| usage("error: process ID list syntax error"))
        })
        .collect()
}

fn columns(r: &Request) -> Result<Vec<(&'static Col, Option<String>)>, Output> {
    let wanted: Vec<(String, Option<String>)> = if !r.columns.is_empty() {
        r.columns.clone()
    } else {
        let keys = match (r.user, r.full) {
            (true, _) => USER,
            (false, true) => FULL,
            _ => DEFAULT,
        };
        keys.iter().map(|k| (k.to_string(), None)).collect()
    };
    wanted
        .into_iter()
        .map(|(key, header)| {
            let col = COLS.iter().find(|c| c.key == key).ok_or_else(|| {
                usage(&format!(
                    "error: unknown user-defined format specifier \"{key}\""
                ))
            })?;
            Ok((col, Some(header.unwrap_or_else(|| col.header.to_string()))))
        })
        .collect()
}

/// Processes the OS started run as root; the rest were started by the cloud user over SSH.
fn owner(g: &Guest, pid: u32) -> String {
    if pid < 1000 {
        "root".into()
    } else {
        g.distro.default_user.chars().take(8).collect()
    }
}

fn value(g: &Guest, pid: u32, key: &str) -> String {
    let Some(p) = g.processes.get(&pid) else {
        return String::new();
    };
    let rss_kb = p
        .dirty
        .map_or(4096, |(_, set)| (set / 1024.0) as u64 + 4096);
    let started = g.boot_time().format("%H:%M").to_string();
    match key {
        "pid" => pid.to_string(),
        "ppid" => u32::from(pid >= 1000).to_string(),
        "user" | "uid" => owner(g, pid),
        "%cpu" => "0.0".into(),
        "%mem" => format!(
            "{:.1}",
            rss_kb as f64 * 1024.0 * 100.0 / g.mem_total().max(1) as f64
        ),
        "vsz" => (rss_kb * 3).to_string(),
        "rss" => rss_kb.to_string(),
        "c" => "0".into(),
        "stime" | "start" => started,
        "tty" | "tt" => "?".into(),
        "stat" => if pid == 1 { "Ss" } else { "S" }.into(),
        "time" => "00:00:00".into(),
        "bsdtime" => "0:00".into(),
        "comm" | "ucmd" => comm(&p.command),
        _ => p.command.clone(),
    }
}

fn usage(first: &str) -> Output {
    Output::fail(1, format!("{first}\n\nUsage:\n ps [options]\n\n Try 'ps --help <simple|list|output|threads|misc|all>'\n  or 'ps --help <s|l|o|t|m|a>'\n for additional help text.\n\nFor more details see ps(1).\n"))
}

fn usage_sysv() -> Output {
    usage("error: unsupported SysV option")
}

/// `pgrep [-f] [-x] [-l|-a] PATTERN`: matching PIDs, one a line.
pub fn pgrep(g: &Guest, args: &[&str]) -> Output {
    let flags: String = args
        .iter()
        .filter(|a| a.starts_with('-'))
        .map(|a| a.trim_start_matches('-'))
        .collect();
    if let Some(bad) = flags.chars().find(|c| !"fxlan".contains(*c)) {
        return Output::fail(2, format!("pgrep: invalid option -- '{bad}'\n\nUsage:\n pgrep [options] <pattern>\n\nFor more details see pgrep(1).\n"));
    }
    let Some(pattern) = args.iter().find(|a| !a.starts_with('-')) else {
        return Output::fail(
            2,
            "pgrep: no matching criteria specified\nTry `pgrep --help' for more information.\n",
        );
    };
    let (full, exact) = (flags.contains('f'), flags.contains('x'));
    let rows: Vec<String> = g
        .processes
        .iter()
        .filter(|(_, p)| {
            let subject = if full {
                p.command.clone()
            } else {
                comm(&p.command)
            };
            if exact {
                subject == *pattern
            } else {
                subject.contains(pattern)
            }
        })
        .map(
            |(pid, p)| match (flags.contains('a'), flags.contains('l')) {
                (true, _) => format!("{pid} {}", p.command),
                (false, true) => format!("{pid} {}", comm(&p.command)),
                _ => pid.to_string(),
            },
        )
        .collect();
    if rows.is_empty() {
        return Output::fail(1, "");
    }
    Output::ok(rows.join("\n") + "\n")
}

//! cmd.exe, Win32-OpenSSH's default shell (`cmd.exe /c <command>`): `powershell` with its
//! switches, `echo` with `%VAR%` expansion and `hostname`; anything else is not recognized.

use crate::guest::command::Output;
use crate::guest::{lock, GuestRef};

/// The script of `powershell[.exe] [-NoProfile] [-NonInteractive] … -Command <script>`:
/// powershell.exe splits its command line as CommandLineToArgvW does (double quotes group
/// and vanish, `\"` is a quote) and joins what follows -Command with spaces.
pub fn powershell_script(line: &str) -> Option<String> {
    let args = argv(line);
    let exe = args.first()?.to_lowercase();
    let exe = exe.rsplit('\\').next().unwrap_or(&exe);
    if !matches!(exe, "powershell" | "powershell.exe" | "pwsh" | "pwsh.exe") {
        return None;
    }
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let Some(switch) = arg.strip_prefix('-').map(str::to_lowercase) else {
            return Some(
                std::iter::once(arg)
                    .chain(rest)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        };
        if !switch.is_empty() && "command".starts_with(&switch) {
            return Some(rest.cloned().collect::<Vec<_>>().join(" "));
        }
        if [
            "executionpolicy",
            "windowstyle",
            "inputformat",
            "outputformat",
        ]
        .contains(&switch.as_str())
        {
            rest.next();
        }
    }
    Some(String::new())
}

fn argv(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'"') => {
                chars.next();
                word.get_or_insert_with(String::new).push('"');
            }
            '"' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => args.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    args.extend(word);
    args
}

pub fn run(guest: &GuestRef, line: &str) -> Output {
    let g = lock(guest);
    let line = line.trim();
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    match name.to_lowercase().as_str() {
        "echo" => {
            let expanded = rest
                .replace("%NUMBER_OF_PROCESSORS%", &g.vcpus.to_string())
                .replace("%number_of_processors%", &g.vcpus.to_string())
                .replace("%COMPUTERNAME%", &g.hostname.to_uppercase());
            Output::ok(format!("{expanded}\r\n"))
        }
        "hostname" => Output::ok(format!("{}\r\n", g.hostname)),
        _ => Output::fail(9009, format!("'{name}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n")),
    }
}

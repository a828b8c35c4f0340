//! The Windows dialect: PowerShell over Windows OpenSSH. The harness sends the few pipelines
//! below (as `powershell -NoProfile -Command "…"` or bare, when PowerShell is the default
//! shell); they answer in PowerShell's own shapes: `ConvertTo-Json` objects, `True`/`False`,
//! bare numbers. Anything else fails the way PowerShell does (CommandNotFoundException, exit 1).

use serde_json::{json, Value};

use super::command::Output;
use super::sender::Sender;
use super::words::Token;
use super::{lock, GuestRef, Network};

pub fn run(guest: &GuestRef, net: &dyn Network, words: &[Token], line: &str) -> Output {
    let script = script_of(words).unwrap_or_else(|| line.to_string());
    let norm = normalize(&script);
    let n = norm.as_str();
    let probe = n
        .strip_prefix("test-connection -computername ")
        .and_then(|r| r.strip_suffix(" -quiet"))
        .and_then(|r| r.split_once(" -count "))
        .filter(|(_, count)| count.parse::<u32>().is_ok_and(|c| c > 0));
    if let Some((target, _)) = probe {
        let sender = Sender::snapshot(guest);
        let answered = target
            .parse()
            .ok()
            .is_some_and(|dst| sender.reaches(dst, None, net));
        return Output::ok(if answered { "True\r\n" } else { "False\r\n" });
    }
    let g = &mut lock(guest);
    if n == "echo %number_of_processors%"
        || n == "$env:number_of_processors"
        || n == "(get-ciminstance win32_computersystem).numberoflogicalprocessors"
    {
        return Output::ok(format!("{}\r\n", g.vcpus));
    }
    if n == "(get-ciminstance win32_computersystem).totalphysicalmemory" {
        return Output::ok(format!("{}\r\n", g.mem_total()));
    }
    if n == "(get-ciminstance win32_operatingsystem).lastbootuptime.touniversaltime().tostring('o')"
    {
        let boot = chrono::DateTime::from_timestamp(g.boot_time(), 0).unwrap_or_default();
        // .NET's round-trip ("o") format: seven fractional digits (ticks), which chrono's
        // strftime cannot spell.
        let ticks = boot.timestamp_subsec_nanos() / 100;
        return Output::ok(format!(
            "{}.{ticks:07}Z\r\n",
            boot.format("%Y-%m-%dT%H:%M:%S")
        ));
    }
    if n == "get-process | select-object id,processname | convertto-json" {
        let list: Vec<Value> = g.processes.iter().map(|(pid, p)| json!({"Id": pid, "ProcessName": p.command.split_whitespace().next().unwrap_or("")})).collect();
        return Output::ok(pretty(&Value::Array(list)));
    }
    if n == "get-netadapter | select-object name,macaddress,status | convertto-json" {
        let list: Vec<Value> = g.nics.iter().map(|nic| json!({"Name": nic.name, "MacAddress": nic.mac.replace(':', "-").to_uppercase(), "Status": if nic.up { "Up" } else { "Disconnected" }})).collect();
        return Output::ok(pretty(&Value::Array(list)));
    }
    if n == "get-netipaddress | select-object interfacealias,ipaddress,prefixlength,addressfamily | convertto-json" {
        let list: Vec<Value> = g.nics.iter().flat_map(|nic| nic.addrs.iter().map(move |(ip, len)| json!({"InterfaceAlias": nic.name, "IPAddress": ip.to_string(), "PrefixLength": len, "AddressFamily": if ip.is_ipv4() { 2 } else { 23 }}))).collect();
        return Output::ok(pretty(&Value::Array(list)));
    }
    if let Some(pid) = n
        .strip_prefix("get-process -id ")
        .and_then(|r| r.strip_suffix(" -erroraction stop | out-null"))
    {
        return match pid
            .parse::<u32>()
            .ok()
            .filter(|p| g.processes.contains_key(p))
        {
            Some(_) => Output::ok(""),
            None => error_record(
                &format!("Get-Process : Cannot find a process with the process identifier {pid}."),
                &script,
                &format!("ObjectNotFound: ({pid}:Int32) [Get-Process], ProcessCommandException"),
                "NoProcessFoundForGivenId,Microsoft.PowerShell.Commands.GetProcessCommand",
            ),
        };
    }
    if let Some(exe) = n
        .strip_prefix("(start-process -filepath ")
        .and_then(|r| r.strip_suffix(" -passthru).id"))
    {
        let (exe, args) = exe.split_once(" -argumentlist ").unwrap_or((exe, ""));
        let exe = exe.trim_matches('\'');
        let pid = g.spawn(exe, dirtier_load(args));
        return Output::ok(format!("{pid}\r\n"));
    }
    let first = script.split_whitespace().next().unwrap_or("");
    error_record(
        &format!("{first} : The term '{first}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."),
        &script,
        &format!("ObjectNotFound: ({first}:String) [], CommandNotFoundException"),
        "CommandNotFoundException",
    )
}

/// A PowerShell loop re-writing a `[byte[]]::new(<N>MB)` array page by page: one core's worth
/// of dirtying (about 1 GiB/s) over N MiB, like one stress-ng `--vm` worker.
fn dirtier_load(args: &str) -> Option<(f64, f64)> {
    let size = args.split("[byte[]]::new(").nth(1)?.split(')').next()?;
    let mib: f64 = size.strip_suffix("mb")?.parse().ok()?;
    args.contains("while")
        .then_some((crate::quantity::GIB, mib * crate::quantity::MIB))
}

/// A terminating error as `powershell -Command` prints it (see fixtures/guest/windows/):
/// message, position, the offending line underlined, category and error id; exit code 1.
fn error_record(message: &str, script: &str, category: &str, id: &str) -> Output {
    let line = script.trim();
    let underline = "~".repeat(line.chars().count());
    Output::fail(1, format!("{message}\r\nAt line:1 char:1\r\n+ {line}\r\n+ {underline}\r\n    + CategoryInfo          : {category}\r\n    + FullyQualifiedErrorId : {id}\r\n \r\n"))
}

/// The script of `powershell [-NoProfile] [-NonInteractive] -Command <script>`.
fn script_of(words: &[Token]) -> Option<String> {
    let words: Vec<&str> = words
        .iter()
        .map(|t| match t {
            Token::Word(w) => w.as_str(),
            Token::Op(o) => o,
        })
        .collect();
    let exe = words.first()?.to_lowercase();
    if exe != "powershell" && exe != "powershell.exe" && exe != "pwsh" {
        return None;
    }
    let at = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("-command"))?;
    Some(words[at + 1..].join(" "))
}

/// PowerShell is case-insensitive and whitespace-tolerant.
fn normalize(script: &str) -> String {
    let lower = script.trim().to_lowercase();
    let mut out = String::new();
    for w in lower.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out.replace(" | ", "|")
        .replace('|', " | ")
        .replace(", ", ",")
}

/// ConvertTo-Json's layout: four-space indents; a single object is not wrapped in an array.
fn pretty(v: &Value) -> String {
    let v = match v.as_array() {
        Some(items) if items.len() == 1 => &items[0],
        _ => v,
    };
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("JSON serializes");
    String::from_utf8(buf)
        .expect("JSON is UTF-8")
        .replace('\n', "\r\n")
        + "\r\n"
}

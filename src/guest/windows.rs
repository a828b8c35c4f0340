//! The Windows dialect: PowerShell pipelines sent over Windows OpenSSH, and parsers of what
//! Windows PowerShell 5.1 prints for them: bare values with CRLF, `True`/`False`, and
//! `ConvertTo-Json` documents (a lone object is not wrapped in an array).

use serde::Deserialize;
use serde_json::Value;

use super::{number, unreadable, Interface, Output, Process, Unreadable};

/// Wraps a PowerShell script for the SSH command line; the default OpenSSH shell on Windows is
/// cmd.exe, so the script is handed to powershell explicitly.
pub fn powershell(script: &str) -> String {
    format!("powershell -NoProfile -NonInteractive -Command \"{script}\"")
}

pub const NPROC: &str = "$env:NUMBER_OF_PROCESSORS";
pub const TOTAL_MEMORY: &str = "(Get-CimInstance Win32_ComputerSystem).TotalPhysicalMemory";
pub const LAST_BOOT: &str =
    "(Get-CimInstance Win32_OperatingSystem).LastBootUpTime.ToUniversalTime().ToString('o')";
/// The guest's own clock, in the same format as [`LAST_BOOT`].
pub const CLOCK: &str =
    "(Get-CimInstance Win32_OperatingSystem).LocalDateTime.ToUniversalTime().ToString('o')";
pub const PROCESSES: &str = "Get-Process | Select-Object Id,ProcessName | ConvertTo-Json";
pub const ADAPTERS: &str = "Get-NetAdapter | Select-Object Name,MacAddress,Status | ConvertTo-Json";
pub const ADDRESSES: &str = "Get-NetIPAddress | Select-Object InterfaceAlias,IPAddress,PrefixLength,AddressFamily | ConvertTo-Json";

pub fn nproc(out: &str) -> Result<u32, Unreadable> {
    number("the processor count", out)
}

pub fn total_memory(out: &str) -> Result<u64, Unreadable> {
    number("TotalPhysicalMemory", out)
}

/// The last boot time in .NET's round-trip format (`2026-11-20T08:14:03.5000000Z`).
pub fn last_boot(out: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, Unreadable> {
    round_trip("LastBootUpTime", out)
}

/// The guest's clock ([`CLOCK`]), in the same format.
pub fn clock(out: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, Unreadable> {
    round_trip("LocalDateTime", out)
}

fn round_trip(
    what: &'static str,
    out: &str,
) -> Result<chrono::DateTime<chrono::FixedOffset>, Unreadable> {
    let text = out.trim();
    let fraction = text.rsplit('.').next().unwrap_or("");
    let ticks = fraction.len() == 8 && fraction.ends_with('Z');
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) if ticks => Ok(t),
        _ => Err(unreadable(what, out)),
    }
}

/// `ConvertTo-Json` of a pipeline: an array, or the lone object itself.
fn json_list<T: for<'de> Deserialize<'de>>(
    what: &'static str,
    out: &str,
) -> Result<Vec<T>, Unreadable> {
    let doc: Value = serde_json::from_str(out).map_err(|_| unreadable(what, out))?;
    let items = match doc {
        Value::Array(items) => items,
        one @ Value::Object(_) => vec![one],
        _ => return Err(unreadable(what, out)),
    };
    items
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(|_| unreadable(what, out)))
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PsProcess {
    id: u32,
    process_name: String,
}

pub fn processes(out: &str) -> Result<Vec<Process>, Unreadable> {
    let list: Vec<PsProcess> = json_list("processes (Get-Process)", out)?;
    Ok(list
        .into_iter()
        .map(|p| Process {
            pid: p.id,
            name: p.process_name,
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetAdapter {
    name: String,
    mac_address: String,
    status: String,
}

#[derive(Deserialize)]
struct NetIpAddress {
    #[serde(rename = "InterfaceAlias")]
    alias: String,
    #[serde(rename = "IPAddress", deserialize_with = "without_zone")]
    address: std::net::IpAddr,
    #[serde(rename = "PrefixLength")]
    prefix: u8,
    #[serde(rename = "AddressFamily")]
    family: u8,
}

/// Link-local IPv6 addresses come with their zone (`fe80::1%6`); the zone is dropped.
fn without_zone<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::net::IpAddr, D::Error> {
    let text = String::deserialize(d)?;
    let address = text.split('%').next().unwrap_or_default();
    address.parse().map_err(serde::de::Error::custom)
}

/// Adapters from [`ADAPTERS`], with the addresses from [`ADDRESSES`] attached by alias.
/// Windows writes MACs as `52-54-00-AB-CD-EF`; they come back as `52:54:00:ab:cd:ef`.
pub fn interfaces(adapters: &str, addresses: &str) -> Result<Vec<Interface>, Unreadable> {
    let adapters: Vec<NetAdapter> = json_list("adapters (Get-NetAdapter)", adapters)?;
    let addresses: Vec<NetIpAddress> = json_list("addresses (Get-NetIPAddress)", addresses)?;
    if addresses.iter().any(|a| a.family != 2 && a.family != 23) {
        return Err(unreadable(
            "an AddressFamily (2 or 23)",
            &format!(
                "{:?}",
                addresses.iter().map(|a| a.family).collect::<Vec<_>>()
            ),
        ));
    }
    Ok(adapters
        .into_iter()
        .map(|a| Interface {
            mac: a.mac_address.replace('-', ":").to_lowercase(),
            up: a.status == "Up",
            addresses: addresses
                .iter()
                .filter(|ip| ip.alias == a.name)
                .map(|ip| (ip.address, ip.prefix))
                .collect(),
            name: a.name,
        })
        .collect())
}

/// `Test-Connection` with `-Quiet`: whether any of `count` echoes was answered.
pub fn test_connection(address: std::net::IpAddr, count: u32) -> String {
    format!("Test-Connection -ComputerName {address} -Count {count} -Quiet")
}

/// `Test-Connection` with `-Count` echoes `-Delay` seconds apart (Windows PowerShell 5.1),
/// each answered one a Win32_PingStatus with StatusCode 0; unanswered ones are errors, which
/// `-ErrorAction SilentlyContinue` keeps off stderr. Only the status codes are sent back.
pub fn test_connection_every(address: std::net::IpAddr, count: u32, delay_secs: u32) -> String {
    format!("Test-Connection -ComputerName {address} -Count {count} -Delay {delay_secs} -ErrorAction SilentlyContinue | Select-Object StatusCode | ConvertTo-Json")
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PingStatus {
    status_code: Option<u32>,
}

/// Reads [`test_connection_every`]: how many echoes were answered (StatusCode 0). Nothing at
/// all is none answered (`ConvertTo-Json` of an empty pipeline prints nothing).
pub fn echoes_answered(out: &str) -> Result<u32, Unreadable> {
    if out.trim().is_empty() {
        return Ok(0);
    }
    let replies: Vec<PingStatus> = json_list("Win32_PingStatus codes (Test-Connection)", out)?;
    Ok(replies.iter().filter(|r| r.status_code == Some(0)).count() as u32)
}

pub fn answered(out: &str) -> Result<bool, Unreadable> {
    match out.trim() {
        "True" => Ok(true),
        "False" => Ok(false),
        _ => Err(unreadable("True or False (Test-Connection -Quiet)", out)),
    }
}

/// Starts `command_line` through WMI and answers `{ProcessId, ReturnValue}` as JSON. Windows
/// OpenSSH runs each command in a job object that kills what the command started when it
/// returns (PowerShell/Win32-OpenSSH issues #1195, #1642), so `Start-Process` children die
/// with the session; `Win32_Process.Create` makes the process a child of WmiPrvSE, outside
/// the job, as openshift-virtualization-tests does for its Windows workloads. Single quotes
/// only, so the script passes cmd.exe and the outer -Command intact.
pub fn create_process(command_line: &str) -> String {
    let quoted = command_line.replace('\'', "''");
    format!("Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{{CommandLine='{quoted}'}} | Select-Object ProcessId,ReturnValue | ConvertTo-Json")
}

/// A PowerShell loop that keeps re-writing `megabytes` of memory, page by page, started
/// through WMI (see [`create_process`]).
pub fn memory_dirtier(megabytes: u32) -> String {
    let work = format!(
        "$b=[byte[]]::new({megabytes}MB);while(1){{for($i=0;$i -lt $b.Length;$i+=4096){{$b[$i]++}}}}"
    );
    create_process(&format!("powershell.exe -NoProfile -Command {work}"))
}

/// What `Win32_Process.Create` answered.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Created {
    pub process_id: Option<u32>,
    /// 0 success; 2 access denied, 3 insufficient privilege, 8 unknown failure, 9 path not
    /// found, 21 invalid parameter (Win32_Process Create, Microsoft Learn).
    pub return_value: u32,
}

/// Reads [`create_process`]'s answer: the new PID, or the return value that says why not.
pub fn created(out: &str) -> Result<Result<u32, u32>, Unreadable> {
    let c: Created =
        serde_json::from_str(out).map_err(|_| unreadable("Win32_Process.Create's result", out))?;
    match (c.return_value, c.process_id) {
        (0, Some(pid)) => Ok(Ok(pid)),
        (0, None) => Err(unreadable("a ProcessId with ReturnValue 0", out)),
        (code, _) => Ok(Err(code)),
    }
}

pub fn process_exists(pid: u32) -> String {
    format!("Get-Process -Id {pid} -ErrorAction Stop | Out-Null")
}

/// Reads [`process_exists`]: exit 0 alive; exit 1 with "Cannot find a process" gone.
pub fn exists(out: &Output) -> Result<bool, Unreadable> {
    match out.code {
        0 => Ok(true),
        1 if out
            .stderr
            .contains("Cannot find a process with the process identifier") =>
        {
            Ok(false)
        }
        _ => Err(unreadable(
            "whether the process exists (Get-Process -Id)",
            &out.to_string(),
        )),
    }
}

/// Whether PowerShell answered that the command is not a cmdlet or program.
pub fn is_not_found(out: &Output) -> bool {
    out.code != 0 && out.stderr.contains("CommandNotFoundException")
}

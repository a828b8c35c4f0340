//! The RHEL dialect: commands as a QE engineer would type them, and strict parsers of what
//! coreutils, procps, util-linux, iproute2 and iputils print. A parser refuses anything that is
//! not the real format, so a simulator answer that drifts from a real guest fails loudly.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::{number, unreadable, Interface, Output, Process, Unreadable};

pub const BOOT_ID: &str = "cat /proc/sys/kernel/random/boot_id";
pub const UPTIME: &str = "cat /proc/uptime";
pub const BOOT_TIME: &str = "grep btime /proc/stat";
pub const NPROC: &str = "nproc";
pub const FREE: &str = "free -b";
pub const MEMTOTAL: &str = "grep MemTotal /proc/meminfo";
pub const LSMEM_ONLINE: &str = "lsmem | grep 'Total online'";
pub const IP_LINK: &str = "ip -j link";
pub const IP_ADDR: &str = "ip -j addr";

/// A boot id: the kernel's random UUID for this boot (8-4-4-4-12 lower-case hex).
pub fn boot_id(out: &str) -> Result<String, Unreadable> {
    let id = out.trim();
    let groups: Vec<&str> = id.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let hex = id
        .chars()
        .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c));
    if lengths == [8, 4, 4, 4, 12] && hex && out.ends_with('\n') {
        Ok(id.to_string())
    } else {
        Err(unreadable("a boot id", out))
    }
}

/// Seconds since boot from `/proc/uptime` ("<uptime> <idle>").
pub fn uptime(out: &str) -> Result<f64, Unreadable> {
    match out.trim().split(' ').collect::<Vec<_>>()[..] {
        [up, idle] if idle.parse::<f64>().is_ok() => number("the uptime", up),
        _ => Err(unreadable("the uptime", out)),
    }
}

/// The boot time (Unix seconds) from `btime` in `/proc/stat`.
pub fn boot_time(out: &str) -> Result<i64, Unreadable> {
    let line = out.lines().find(|l| l.starts_with("btime "));
    let value = line.and_then(|l| l.strip_prefix("btime "));
    value.map_or(Err(unreadable("btime", out)), |v| number("btime", v))
}

pub fn nproc(out: &str) -> Result<u32, Unreadable> {
    number("the CPU count", out)
}

/// Total memory in bytes from `free -b`: the exact header, a `Mem:` row of six numbers and a
/// `Swap:` row of three.
pub fn free_total(out: &str) -> Result<u64, Unreadable> {
    let fail = || unreadable("total memory (free -b)", out);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let header = ["total", "used", "free", "shared", "buff/cache", "available"];
    let numbers = |row: &[&str]| row.iter().all(|v| v.parse::<u64>().is_ok());
    match &rows[..] {
        [h, mem, swap]
            if h[..] == header
                && mem.len() == 7
                && mem[0] == "Mem:"
                && numbers(&mem[1..])
                && swap.len() == 4
                && swap[0] == "Swap:"
                && numbers(&swap[1..]) =>
        {
            mem[1].parse().map_err(|_| fail())
        }
        _ => Err(fail()),
    }
}

/// Total memory in bytes from `MemTotal:       24683656 kB`.
pub fn meminfo_total(out: &str) -> Result<u64, Unreadable> {
    let fields: Vec<&str> = out.split_whitespace().collect();
    match fields[..] {
        ["MemTotal:", kb, "kB"] => number::<u64>("MemTotal", kb).map(|kb| kb * 1024),
        _ => Err(unreadable("MemTotal", out)),
    }
}

/// Online memory in bytes from `Total online memory:      24G` (lsmem's K/M/G/T suffixes).
pub fn lsmem_online(out: &str) -> Result<u64, Unreadable> {
    let fail = || unreadable("the online memory (lsmem)", out);
    let size = out
        .trim()
        .strip_prefix("Total online memory:")
        .ok_or_else(fail)?
        .trim();
    let (digits, unit) = size.split_at(size.len().saturating_sub(1));
    let shift = match unit {
        "B" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(fail()),
    };
    let value: f64 = digits.parse().map_err(|_| fail())?;
    Ok((value * (1u64 << shift) as f64) as u64)
}

#[derive(Deserialize)]
struct IpLink {
    ifname: String,
    address: Option<String>,
    operstate: String,
    flags: Vec<String>,
    #[serde(default)]
    addr_info: Vec<IpAddrInfo>,
}

#[derive(Deserialize)]
struct IpAddrInfo {
    local: IpAddr,
    prefixlen: u8,
}

/// Interfaces from `ip -j link` or `ip -j addr` (the latter with addresses).
pub fn interfaces(out: &str) -> Result<Vec<Interface>, Unreadable> {
    let links: Vec<IpLink> =
        serde_json::from_str(out).map_err(|_| unreadable("interfaces (ip -j)", out))?;
    Ok(links
        .into_iter()
        .map(|l| Interface {
            up: l.operstate == "UP" || l.flags.iter().any(|f| f == "LOWER_UP"),
            mac: l.address.unwrap_or_default().to_lowercase(),
            addresses: l.addr_info.iter().map(|a| (a.local, a.prefixlen)).collect(),
            name: l.ifname,
        })
        .collect())
}

/// `ping -c <count> [-I <interface>] -W 1 <address>`.
pub fn ping(address: IpAddr, count: u32, interface: Option<&str>) -> String {
    let via = interface.map(|i| format!(" -I {i}")).unwrap_or_default();
    let six = if address.is_ipv6() { " -6" } else { "" };
    format!("ping{six} -c {count}{via} -W 1 {address}")
}

/// `ping -c <count> -i <interval> -W 1 <address>`: echoes `interval` seconds apart, so the
/// one command samples reachability over `(count - 1) × interval` seconds of the guest's time.
pub fn ping_every(address: IpAddr, count: u32, interval_secs: u32) -> String {
    let six = if address.is_ipv6() { " -6" } else { "" };
    format!("ping{six} -c {count} -i {interval_secs} -W 1 {address}")
}

/// The statistics iputils' ping ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingSummary {
    pub transmitted: u32,
    pub received: u32,
    pub errors: u32,
}

/// Reads `N packets transmitted, M received, [+E errors, ]L% packet loss, time Tms`.
pub fn ping_summary(out: &str) -> Result<PingSummary, Unreadable> {
    let fail = || unreadable("ping statistics", out);
    let line = out
        .lines()
        .find(|l| l.contains(" packets transmitted, "))
        .ok_or_else(fail)?;
    let parts: Vec<&str> = line.split(", ").collect();
    let count = |part: &str, suffix: &str| -> Result<u32, Unreadable> {
        part.strip_suffix(suffix)
            .and_then(|n| n.trim_start_matches('+').parse().ok())
            .ok_or_else(fail)
    };
    let (transmitted, received) = (
        count(parts.first().ok_or_else(fail)?, " packets transmitted")?,
        count(parts.get(1).ok_or_else(fail)?, " received")?,
    );
    let errors = match parts.get(2) {
        Some(p) if p.ends_with(" errors") => count(p, " errors")?,
        _ => 0,
    };
    let tail_ok = parts.iter().any(|p| p.ends_with("% packet loss"))
        && parts
            .last()
            .is_some_and(|p| p.starts_with("time ") && p.ends_with("ms"));
    if !tail_ok || !out.contains(" ping statistics ---") {
        return Err(fail());
    }
    Ok(PingSummary {
        transmitted,
        received,
        errors,
    })
}

/// Starts `command` detached from the session; the answer is its PID (`$!`). It starts in a
/// subshell: an interactive shell (a serial console's login shell) would otherwise own it as a
/// job, print `[1] PID` before the PID and, when it ends, `[1]+ Terminated ...` into the answer
/// of a later command.
pub fn start_background(command: &str) -> String {
    format!("(nohup {command} >/dev/null 2>&1 & echo $!)")
}

pub fn pid(out: &str) -> Result<u32, Unreadable> {
    number("a PID", out)
}

/// `kill -0 <pid>`: whether the process exists.
pub fn process_exists(pid: u32) -> String {
    format!("kill -0 {pid}")
}

/// Reads the answer of [`process_exists`]: exit 0 means alive; exit 1 with bash's
/// "No such process" means gone; anything else is not an answer to the question. Over a
/// serial console stderr arrives in stdout (a terminal has one stream), so either counts.
pub fn exists(out: &Output) -> Result<bool, Unreadable> {
    let gone = |text: &str| text.trim_end().ends_with(") - No such process");
    match out.code {
        0 => Ok(true),
        1 if gone(&out.stderr) || gone(&out.stdout) => Ok(false),
        _ => Err(unreadable(
            "whether the process exists (kill -0)",
            &out.to_string(),
        )),
    }
}

/// `ps -p <pid> -o pid=,comm=`: the process, if it runs.
pub fn ps(pid: u32) -> String {
    format!("ps -p {pid} -o pid=,comm=")
}

/// Reads [`ps`]: one `PID COMMAND` row (exit 0), or nothing (exit 1) when it does not run.
pub fn process(out: &Output) -> Result<Option<Process>, Unreadable> {
    let fail = || unreadable("a process row (ps)", &out.to_string());
    let row: Vec<&str> = out.stdout.split_whitespace().collect();
    match (out.code, &row[..]) {
        (1, []) => Ok(None),
        (0, [pid, name]) => Ok(Some(Process {
            pid: pid.parse().map_err(|_| fail())?,
            name: name.to_string(),
        })),
        _ => Err(fail()),
    }
}

/// PIDs from `pgrep -f <pattern>`, one per line.
pub fn pids(out: &str) -> Result<Vec<u32>, Unreadable> {
    out.lines().map(pid).collect()
}

/// Whether the shell answered "command not found" (exit 127), as bash does.
pub fn is_not_found(out: &Output) -> bool {
    out.code == 127 && out.stderr.trim_end().ends_with(": command not found")
}

/// The programs the harness's own workloads need come with a RHEL 9 KVM guest image
/// (osbuild/images data/distrodefs/rhel-9/imagetypes.yaml `qcow2` package set): coreutils,
/// bash, and python3 (cloud-init's). nmap-ncat and stress-ng are not in it.
///
/// A TCP listener on `port`: python3's http.server (serves until killed). Bound to IPv4 so
/// that `ss` shows plain IPv4 peers (a dual-stack socket shows them as `::ffff:a.b.c.d`).
pub fn listen(port: u16) -> String {
    start_background(&listener(port))
}

/// The listener [`listen`] starts; its program is `python3`.
pub fn listener(port: u16) -> String {
    format!("python3 -m http.server --bind 0.0.0.0 {port}")
}

/// A client that connects to `address`:`port` and holds the connection open: a `sleep` whose
/// standard input is bash's `/dev/tcp` socket (the connection lasts as long as the process;
/// a refused connect ends the job at once).
pub fn hold_connection(address: IpAddr, port: u16) -> String {
    start_background(&format!("sleep infinity 0<>/dev/tcp/{address}/{port}"))
}

/// Does anything accept a TCP connection there? bash's `/dev/tcp` under coreutils'
/// `timeout`, so an address no one answers ends in 2 s instead of connect()'s two minutes.
pub fn tcp_probe(address: IpAddr, port: u16) -> String {
    format!("timeout 2 bash -c ': </dev/tcp/{address}/{port}'")
}

/// Reads [`tcp_probe`]: exit 0 accepted; exit 1 with bash's connect error (refused, no route)
/// or exit 124 (timeout ended a connect no one answered) not accepted. Over a serial console
/// stderr arrives in stdout (a terminal has one stream), so either counts.
pub fn accepted(out: &Output) -> Result<bool, Unreadable> {
    let says_connect_failed = |text: &str| {
        text.lines()
            .next()
            .is_some_and(|l| l.starts_with("bash: connect: "))
    };
    let connect_failed = says_connect_failed(&out.stderr) || says_connect_failed(&out.stdout);
    match out.code {
        0 => Ok(true),
        1 if connect_failed => Ok(false),
        124 if out.stderr.trim().is_empty() => Ok(false),
        _ => Err(unreadable(
            "whether a TCP connection was accepted (bash /dev/tcp)",
            &out.to_string(),
        )),
    }
}

pub use super::os::Dirtier;

/// The page dirtier [`Dirtier::Python`] runs: one line, so a serial console takes it as one
/// command; no single quote, so `'…'` carries it through the shell.
const DIRTY_PAGES: &str = include_str!("../../fixtures/guest/programs/dirty_pages.py");

impl Dirtier {
    /// The program that must be on the guest's PATH.
    pub fn program(self) -> &'static str {
        match self {
            Dirtier::Python => "python3",
            Dirtier::Coreutils => "dd",
            Dirtier::StressNg => "stress-ng",
        }
    }

    /// The command that keeps `megabytes` MiB dirty. No byte it writes is zero: qemu sends a
    /// page of zeros as a flag (migration/ram.c `save_zero_page`), so rewriting zeros would
    /// never slow a migration down (found by the real-guest lane, where such a dirtier let
    /// pre-copy converge).
    pub fn command(self, megabytes: u32) -> String {
        match self {
            Dirtier::Python => format!("python3 -c '{}' {megabytes}", DIRTY_PAGES.trim_end()),
            Dirtier::Coreutils => format!(
                "sh -c 'while :; do dd if=/dev/urandom of=/dev/shm/vstp-dirty bs=1M count={megabytes} conv=notrunc status=none; done'"
            ),
            Dirtier::StressNg => format!("stress-ng --vm 1 --vm-bytes {megabytes}M --vm-keep"),
        }
    }
}

/// `command -v <program>`: its path (exit 0), or nothing (exit 1) when the image lacks it.
pub fn locate(program: &str) -> String {
    format!("command -v {program}")
}

/// Reads [`locate`]: whether the program is there.
pub fn located(out: &Output) -> Result<bool, Unreadable> {
    match (out.code, out.stdout.trim()) {
        (0, path) if path.starts_with('/') => Ok(true),
        (1, "") => Ok(false),
        _ => Err(unreadable(
            "where a program is (command -v)",
            &out.to_string(),
        )),
    }
}

pub const ESTABLISHED: &str = "ss -Htn state established";

/// An IPv4 peer of a dual-stack socket as the IPv4 address it is (`[::ffff:10.0.0.1]:80`).
fn canonical(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip().to_canonical(), address.port())
}

/// (local, peer) of every established TCP connection `ss -Htn state established` lists.
pub fn established(out: &str) -> Result<Vec<(SocketAddr, SocketAddr)>, Unreadable> {
    out.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let queues = fields.len() == 4 && fields[..2].iter().all(|q| q.parse::<u64>().is_ok());
            match (
                queues,
                fields.get(2).and_then(|l| l.parse().ok()),
                fields.get(3).and_then(|p| p.parse().ok()),
            ) {
                (true, Some(local), Some(peer)) => Ok((canonical(local), canonical(peer))),
                _ => Err(unreadable("established connections (ss -Htn)", out)),
            }
        })
        .collect()
}

#[cfg(test)]
mod exists_tests {
    use super::*;

    fn answer(stdout: &str, stderr: &str, code: i32) -> Output {
        Output {
            stdout: stdout.into(),
            stderr: stderr.into(),
            code,
        }
    }

    #[test]
    fn a_gone_process_is_read_over_ssh_and_over_the_console() {
        let said = "bash: line 1: kill: (1022) - No such process\n";
        assert!(!exists(&answer("", said, 1)).unwrap());
        assert!(
            !exists(&answer(said, "", 1)).unwrap(),
            "console: one stream"
        );
        assert!(exists(&answer("", "", 0)).unwrap());
        assert!(exists(&answer("", "kill: permission denied", 1)).is_err());
    }

    #[test]
    fn a_window_of_echoes_partly_answered_reads_as_counts() {
        let printed = "PING 10.0.0.20 (10.0.0.20) 56(84) bytes of data.\n\
            64 bytes from 10.0.0.20: icmp_seq=3 ttl=64 time=0.301 ms\n\
            \n--- 10.0.0.20 ping statistics ---\n\
            3 packets transmitted, 1 received, 66.6667% packet loss, time 2004ms\n\
            rtt min/avg/max/mdev = 0.301/0.301/0.301/0.000 ms\n";
        let summary = ping_summary(printed).unwrap();
        assert_eq!((summary.transmitted, summary.received), (3, 1));
        assert_eq!(
            ping_every("fd00::20".parse().unwrap(), 10, 1),
            "ping -6 -c 10 -i 1 -W 1 fd00::20"
        );
    }
}

#[cfg(test)]
mod dirtier_tests {
    use super::*;

    /// A second line would reach a serial console as a second command, and a single quote
    /// would end the shell's quoting early.
    #[test]
    fn the_page_dirtier_reaches_python_as_one_quoted_line_with_its_mib() {
        let command = Dirtier::Python.command(350);
        let program = DIRTY_PAGES.trim_end();
        assert_eq!(command, format!("python3 -c '{program}' 350"));
        assert!(!program.contains(['\n', '\'']), "{program}");
        assert_eq!(Dirtier::default(), Dirtier::Python);
    }
}

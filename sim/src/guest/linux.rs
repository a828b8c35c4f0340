//! The Linux dialect: the commands the harness sends to a RHEL guest, answered in the exact
//! formats of coreutils, procps, iproute2 and iputils (see fixtures/guest/linux/).

use std::net::IpAddr;

use serde_json::{json, Value};

use super::command::{Command, Output};
use super::sender::Sender;
use super::{lock, ncat, tcp, Guest, GuestRef, Nic};
use crate::quantity;

/// Runs one foreground command.
pub fn run(guest: &GuestRef, cmd: Command<'_>) -> Output {
    let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    if args[0] == "ss" {
        return tcp::established(guest, cmd.net);
    }
    if ncat::is_ncat(args[0]) {
        return match ncat::parse(&args) {
            Some(ncat::Ncat::Probe(dst, port)) => tcp::probe(guest, dst, port, cmd.net),
            _ => Output::fail(2, format!("{}: the simulated guest runs listeners and clients only in the background (end the command with &); probe with -z\n", args[0])),
        };
    }
    if args[0] == "ping" {
        // A snapshot, so the fabric can look at every guest (this one included) unlocked.
        let snapshot = Sender::snapshot(guest);
        return ping(&snapshot, &args[1..], cmd.net);
    }
    let g = &mut lock(guest);
    match args[0] {
        "cat" => cat(g, &args[1..]),
        "grep" => grep(g, &args[1..], cmd.stdin.as_deref()),
        "echo" => Output::ok(format!("{}\n", args[1..].join(" "))),
        "true" => Output::ok(""),
        "false" => Output::fail(1, ""),
        "exit" => Output::fail(args.get(1).and_then(|c| c.parse().ok()).unwrap_or(0), ""),
        "hostname" => Output::ok(format!("{}\n", g.hostname)),
        "uname" => Output::ok(if args.contains(&"-r") { format!("{}\n", g.distro.kernel_release) } else { "Linux\n".to_string() }),
        "nproc" => Output::ok(format!("{}\n", g.vcpus)),
        "free" => free(g, &args[1..]),
        "lsmem" => Output::ok(lsmem(g)),
        "ip" => ip(g, &args[1..]),
        "sleep" => Output::ok(""),
        "kill" => kill(g, &args[1..]),
        "ps" => ps(g, &args[1..]),
        "pgrep" => pgrep(g, &args[1..]),
        "stress-ng" => Output::fail(1, "stress-ng: the simulated guest runs stress-ng only in the background (end the command with &)\n"),
        other => not_found(other),
    }
}

pub fn not_found(command: &str) -> Output {
    Output::fail(127, format!("bash: line 1: {command}: command not found\n"))
}

/// Starts `cmd` in the background and returns its PID (`$!`).
pub fn start_background(guest: &GuestRef, cmd: &Command<'_>) -> u32 {
    let line = cmd.args.join(" ");
    let words: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    if let Some(ncat::Ncat::Connect(dst, port)) =
        ncat::parse(&words).filter(|_| ncat::is_ncat(words[0]))
    {
        return tcp::connect(guest, &line, dst, port, cmd.net);
    }
    let g = &mut lock(guest);
    let dirty = (cmd.args[0] == "stress-ng").then(|| stress_ng_load(&cmd.args));
    g.spawn(&line, dirty.flatten())
}

/// `stress-ng --vm N --vm-bytes X --vm-keep`: N workers, each re-writing X bytes as fast as
/// memory allows (about 1 GiB/s per worker).
fn stress_ng_load(args: &[String]) -> Option<(f64, f64)> {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let workers: f64 = value("--vm")?.parse().ok()?;
    let bytes = value("--vm-bytes")
        .and_then(|b| quantity::parse(b))
        .unwrap_or(256.0 * quantity::MIB);
    Some((workers * quantity::GIB, workers * bytes))
}

fn cat(g: &Guest, files: &[&str]) -> Output {
    let mut out = Output::default();
    for f in files {
        match file(g, f) {
            Some(text) => out.stdout.push_str(&text),
            None => {
                out.stderr
                    .push_str(&format!("cat: {f}: No such file or directory\n"));
                out.code = 1;
            }
        }
    }
    out
}

fn file(g: &Guest, path: &str) -> Option<String> {
    Some(match path {
        "/proc/sys/kernel/random/boot_id" => format!("{}\n", g.boot_id),
        "/proc/uptime" => format!(
            "{:.2} {:.2}\n",
            g.uptime(),
            g.uptime() * g.vcpus as f64 * 0.97
        ),
        "/proc/meminfo" => {
            let kb = g.mem_total() / 1024;
            format!(
                "{:<16}{:>8} kB\n{:<16}{:>8} kB\n{:<16}{:>8} kB\n",
                "MemTotal:",
                kb,
                "MemFree:",
                kb * 8 / 10,
                "MemAvailable:",
                kb * 9 / 10
            )
        }
        "/proc/stat" => format!(
            "cpu  {} 0 {} {} 0 0 0 0 0 0\nbtime {}\nprocesses {}\n",
            g.uptime() as u64,
            g.uptime() as u64 / 4,
            g.uptime() as u64 * 90,
            g.boot_time(),
            g.processes.len()
        ),
        "/etc/hostname" => format!("{}\n", g.hostname),
        "/etc/os-release" => g.distro.os_release(),
        _ => return None,
    })
}

fn grep(g: &Guest, args: &[&str], stdin: Option<&str>) -> Output {
    let quiet = args.contains(&"-q");
    let rest: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let Some(pattern) = rest.first() else {
        return Output::fail(2, "Usage: grep [OPTION]... PATTERNS [FILE]...\n");
    };
    let text = match rest.get(1) {
        Some(f) => match file(g, f) {
            Some(t) => t,
            None => return Output::fail(2, format!("grep: {f}: No such file or directory\n")),
        },
        None => stdin.unwrap_or("").to_string(),
    };
    let (anchored, needle) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, *pattern),
    };
    let hits: Vec<&str> = text
        .lines()
        .filter(|l| {
            if anchored {
                l.starts_with(needle)
            } else {
                l.contains(needle)
            }
        })
        .collect();
    match (hits.is_empty(), quiet) {
        (true, _) => Output::fail(1, ""),
        (false, true) => Output::ok(""),
        (false, false) => Output::ok(hits.iter().map(|l| format!("{l}\n")).collect::<String>()),
    }
}

fn free(g: &Guest, args: &[&str]) -> Output {
    let unit: u64 = if args.contains(&"-b") {
        1
    } else if args.contains(&"-m") {
        1 << 20
    } else {
        1024
    };
    let total = g.mem_total();
    let used = total / 50 + g.dirty_load().1 as u64;
    let cache = total / 20;
    let free = total.saturating_sub(used + cache);
    let row = |label: &str, vals: [u64; 6]| {
        let mut s = format!("{label:<9}{:>11}", vals[0] / unit);
        for v in &vals[1..] {
            s.push_str(&format!(" {:>11}", v / unit));
        }
        s.trim_end().to_string() + "\n"
    };
    let header = format!(
        "{:>20} {:>11} {:>11} {:>11} {:>11} {:>11}\n",
        "total", "used", "free", "shared", "buff/cache", "available"
    );
    let mem = row("Mem:", [total, used, free, 8 << 20, cache, total - used]);
    let swap = format!("{:<9}{:>11} {:>11} {:>11}\n", "Swap:", 0, 0, 0);
    Output::ok(header + &mem + &swap)
}

fn lsmem(g: &Guest) -> String {
    let gib = g.memory_bytes as f64 / quantity::GIB;
    let size = if gib.fract() == 0.0 {
        format!("{gib}G")
    } else {
        format!("{gib:.1}G")
    };
    format!("RANGE                                 SIZE  STATE REMOVABLE BLOCK\n\nMemory block size:       128M\nTotal online memory: {size:>8}\nTotal offline memory:      0B\n")
}

fn ip(g: &Guest, args: &[&str]) -> Output {
    let json_out = args.contains(&"-j");
    let rest: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let object = rest.first().copied().unwrap_or("");
    let with_addrs = match object {
        "a" | "addr" | "address" => true,
        "l" | "link" => false,
        _ => {
            return Output::fail(
                255,
                format!("Object \"{object}\" is unknown, try \"ip help\".\n"),
            )
        }
    };
    let dev = rest
        .iter()
        .position(|a| *a == "dev")
        .and_then(|i| rest.get(i + 1))
        .or_else(|| rest.get(2).filter(|_| rest.get(1) == Some(&"show")));
    let mut links = vec![loopback(with_addrs)];
    links.extend(
        g.nics
            .iter()
            .enumerate()
            .map(|(i, n)| link(n, i + 2, with_addrs)),
    );
    if let Some(dev) = dev {
        links.retain(|l| l["ifname"] == *dev);
        if links.is_empty() {
            return Output::fail(1, format!("Device \"{dev}\" does not exist.\n"));
        }
    }
    if json_out {
        Output::ok(format!("{}\n", Value::Array(links)))
    } else {
        Output::ok(links.iter().map(text_link).collect::<String>())
    }
}

fn loopback(with_addrs: bool) -> Value {
    let mut l = json!({"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "mtu": 65536,
        "qdisc": "noqueue", "operstate": "UNKNOWN", "group": "default", "txqlen": 1000, "link_type": "loopback",
        "address": "00:00:00:00:00:00", "broadcast": "00:00:00:00:00:00"});
    if !with_addrs {
        l["linkmode"] = json!("DEFAULT");
    }
    if with_addrs {
        l["addr_info"] = json!([
            {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo", "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64},
            {"family": "inet6", "local": "::1", "prefixlen": 128, "scope": "host", "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64}]);
    }
    l
}

fn link(nic: &Nic, index: usize, with_addrs: bool) -> Value {
    let flags: Vec<&str> = if nic.up {
        vec!["BROADCAST", "MULTICAST", "UP", "LOWER_UP"]
    } else {
        vec!["BROADCAST", "MULTICAST"]
    };
    let mut l = json!({"ifindex": index, "ifname": nic.name, "flags": flags, "mtu": 1500, "qdisc": "fq_codel",
        "operstate": if nic.up { "UP" } else { "DOWN" }, "group": "default", "txqlen": 1000, "link_type": "ether",
        "address": nic.mac, "broadcast": "ff:ff:ff:ff:ff:ff"});
    if !with_addrs {
        l["linkmode"] = json!("DEFAULT");
    }
    if with_addrs {
        let mut info: Vec<Value> = nic.addrs.iter().map(|(ip, len)| match ip {
            IpAddr::V4(v4) => json!({"family": "inet", "local": v4.to_string(), "prefixlen": len,
                "broadcast": broadcast(*v4, *len).to_string(), "scope": "global", "label": nic.name,
                "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64}),
            IpAddr::V6(v6) => json!({"family": "inet6", "local": v6.to_string(), "prefixlen": len, "scope": "global",
                "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64}),
        }).collect();
        info.push(json!({"family": "inet6", "local": link_local(&nic.mac), "prefixlen": 64, "scope": "link",
            "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64}));
        l["addr_info"] = Value::Array(info);
    }
    l
}

fn broadcast(ip: std::net::Ipv4Addr, len: u8) -> std::net::Ipv4Addr {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    };
    std::net::Ipv4Addr::from(u32::from(ip) | !mask)
}

/// The EUI-64 link-local address the kernel derives from a MAC.
pub fn link_local(mac: &str) -> String {
    let b: Vec<u8> = mac
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    if b.len() != 6 {
        return "fe80::1".into();
    }
    let groups = [
        ((b[0] ^ 2) as u16) << 8 | b[1] as u16,
        (b[2] as u16) << 8 | 0xff,
        0xfe00 | b[3] as u16,
        (b[4] as u16) << 8 | b[5] as u16,
    ];
    let ip = std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, groups[0], groups[1], groups[2], groups[3]);
    ip.to_string()
}

fn text_link(l: &Value) -> String {
    let flags: Vec<&str> = l["flags"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut s = format!(
        "{}: {}: <{}> mtu {} qdisc {} state {} group default qlen {}\n    link/{} {} brd {}\n",
        l["ifindex"],
        obj_str(&l["ifname"]),
        flags.join(","),
        l["mtu"],
        obj_str(&l["qdisc"]),
        obj_str(&l["operstate"]),
        l["txqlen"],
        obj_str(&l["link_type"]),
        obj_str(&l["address"]),
        obj_str(&l["broadcast"])
    );
    for a in l["addr_info"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "    {} {}/{} scope {}\n",
            obj_str(&a["family"]),
            obj_str(&a["local"]),
            a["prefixlen"],
            obj_str(&a["scope"])
        ));
    }
    s
}

fn obj_str(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn ping(g: &Sender, args: &[&str], net: &dyn super::Network) -> Output {
    let mut count = 4u32;
    let mut iface = None;
    let mut host = None;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-c" => {
                count = args.get(i + 1).and_then(|c| c.parse().ok()).unwrap_or(4);
                i += 1;
            }
            "-I" => {
                iface = args.get(i + 1).copied();
                i += 1;
            }
            "-W" | "-w" | "-i" | "-s" | "-t" => i += 1,
            a if a.starts_with('-') => {}
            a => host = Some(a),
        }
        i += 1;
    }
    let Some(host) = host else {
        return Output::fail(2, "ping: usage error: Destination address required\n");
    };
    let Ok(dst) = host.parse::<IpAddr>() else {
        return Output::fail(2, format!("ping: {host}: Name or service not known\n"));
    };
    let answered = g.reaches(dst, iface, net);
    let mut out = match dst {
        IpAddr::V4(_) => format!("PING {host} ({host}) 56(84) bytes of data.\n"),
        IpAddr::V6(_) => format!("PING {host}({host}) 56 data bytes\n"),
    };
    let received = if answered { count } else { 0 };
    for seq in 1..=received {
        out.push_str(&format!(
            "64 bytes from {host}: icmp_seq={seq} ttl=64 time=0.{:03} ms\n",
            180 + seq * 7 % 90
        ));
    }
    // Unanswered on an attached subnet: neighbour resolution fails and the kernel reports
    // each probe as an error; off-link, the packets are simply lost.
    let unresolved = if answered {
        None
    } else {
        g.on_link(dst, iface)
    };
    if let Some(own) = unresolved {
        for seq in 1..=count {
            out.push_str(&format!(
                "From {own} icmp_seq={seq} Destination Host Unreachable\n"
            ));
        }
    }
    let errors = unresolved
        .map(|_| format!("+{count} errors, "))
        .unwrap_or_default();
    let loss = if answered { 0 } else { 100 };
    out.push_str(&format!("\n--- {host} ping statistics ---\n{count} packets transmitted, {received} received, {errors}{loss}% packet loss, time {}ms\n", count.saturating_sub(1) * 1000 + 3));
    if answered {
        out.push_str("rtt min/avg/max/mdev = 0.187/0.215/0.243/0.021 ms\n");
        Output::ok(out)
    } else {
        out.push('\n');
        Output {
            stdout: out,
            stderr: String::new(),
            code: 1,
        }
    }
}

fn kill(g: &mut Guest, args: &[&str]) -> Output {
    let probe = args.contains(&"-0");
    let mut out = Output::default();
    for pid in args.iter().filter(|a| !a.starts_with('-')) {
        let found = pid
            .parse::<u32>()
            .ok()
            .filter(|p| g.processes.contains_key(p));
        match found {
            Some(p) if !probe => {
                g.processes.remove(&p);
            }
            Some(_) => {}
            None => {
                out.stderr
                    .push_str(&format!("bash: line 1: kill: ({pid}) - No such process\n"));
                out.code = 1;
            }
        }
    }
    out
}

fn ps(g: &Guest, args: &[&str]) -> Output {
    let pid = args
        .iter()
        .position(|a| *a == "-p")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse::<u32>().ok());
    let format = args
        .iter()
        .position(|a| *a == "-o")
        .and_then(|i| args.get(i + 1))
        .copied()
        .unwrap_or("pid,comm");
    let headless = format.contains('=');
    let cols: Vec<&str> = format.split(',').map(|c| c.trim_end_matches('=')).collect();
    let rows: Vec<(u32, &super::Process)> = g
        .processes
        .iter()
        .map(|(p, proc_)| (*p, proc_))
        .filter(|(p, _)| pid.is_none_or(|want| want == *p))
        .collect();
    let line = |p: u32, cmd: &str| -> String {
        cols.iter()
            .map(|c| match *c {
                "pid" => format!("{p:>5}"),
                "args" | "cmd" | "command" => cmd.to_string(),
                _ => cmd
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(15)
                    .collect(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = String::new();
    if !headless {
        out = cols
            .iter()
            .map(|c| {
                if *c == "pid" {
                    "  PID".to_string()
                } else {
                    c.to_uppercase()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
            + "\n";
    }
    for (p, proc_) in &rows {
        out.push_str(&format!("{}\n", line(*p, &proc_.command)));
    }
    if rows.is_empty() {
        return Output {
            stdout: out,
            stderr: String::new(),
            code: 1,
        };
    }
    Output::ok(out)
}

fn pgrep(g: &Guest, args: &[&str]) -> Output {
    let full = args.contains(&"-f");
    let Some(pattern) = args.iter().find(|a| !a.starts_with('-')) else {
        return Output::fail(
            2,
            "pgrep: no matching criteria specified\nTry `pgrep --help' for more information.\n",
        );
    };
    let pids: Vec<String> = g
        .processes
        .iter()
        .filter(|(_, p)| {
            let name = p.command.split_whitespace().next().unwrap_or("");
            if full {
                p.command.contains(pattern)
            } else {
                name.contains(pattern)
            }
        })
        .map(|(pid, _)| pid.to_string())
        .collect();
    if pids.is_empty() {
        return Output::fail(1, "");
    }
    Output::ok(pids.join("\n") + "\n")
}

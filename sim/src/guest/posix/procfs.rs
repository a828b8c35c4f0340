//! `/proc` as the kernel writes it: boot id, uptime, memory, CPU counters, and one directory
//! per process.

use crate::guest::Guest;

/// The text of a `/proc` file.
pub fn file(g: &Guest, path: &str) -> Option<String> {
    Some(match path {
        "/proc/sys/kernel/random/boot_id" => format!("{}\n", g.boot_id),
        "/proc/uptime" => format!(
            "{:.2} {:.2}\n",
            g.uptime(),
            g.uptime() * g.vcpus as f64 * 0.97
        ),
        "/proc/meminfo" => meminfo(g),
        "/proc/stat" => format!(
            "cpu  {} 0 {} {} 0 0 0 0 0 0\nbtime {}\nprocesses {}\n",
            g.uptime() as u64,
            g.uptime() as u64 / 4,
            g.uptime() as u64 * 90,
            g.boot_time().timestamp(),
            g.processes.len()
        ),
        p => return process_file(g, p),
    })
}

fn meminfo(g: &Guest) -> String {
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

/// `/proc/<pid>/{comm,cmdline,status}`.
fn process_file(g: &Guest, path: &str) -> Option<String> {
    let (pid, name) = path.strip_prefix("/proc/")?.split_once('/')?;
    let pid: u32 = pid.parse().ok()?;
    let process = g.processes.get(&pid)?;
    let comm = comm(&process.command);
    Some(match name {
        "comm" => format!("{comm}\n"),
        // NUL-separated arguments, NUL-terminated.
        "cmdline" => process
            .command
            .split_whitespace()
            .map(|a| format!("{a}\0"))
            .collect(),
        "status" => format!("Name:\t{comm}\nState:\tS (sleeping)\nPid:\t{pid}\n"),
        _ => return None,
    })
}

/// The kernel's name of a process: its program's base name, cut to 15 characters.
pub fn comm(command: &str) -> String {
    let program = command.split_whitespace().next().unwrap_or("");
    program
        .rsplit('/')
        .next()
        .unwrap_or("")
        .chars()
        .take(15)
        .collect()
}

//! What the benches share: running `vstp run --target cluster` as a child process against a
//! simulator in this process, and reading back its trial windows, waits and the simulator's
//! request telemetry; and what a client polling every 5 s of modelled time would have sent.

#![allow(dead_code)] // each bench uses its part

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant, SystemTime};

#[path = "../../tests/support/mod.rs"]
pub mod support;

pub use support::SimCluster;

/// The polling interval of the baseline client, in modelled seconds.
pub const POLL_EVERY_SECS: f64 = 5.0;

pub struct Wait {
    pub started: SystemTime,
    pub ended: SystemTime,
    pub requests: u64,
    pub met_at_rv: Option<u64>,
}

pub struct Measured {
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_rss_kib: i64,
    pub passed: usize,
    pub failed: usize,
    /// The names of the trials that failed.
    pub failures: Vec<String>,
    /// Scenarios at once, as the run reported it (its default when not given).
    pub threads: usize,
    /// Per trial: when it started and ended (from the run's stderr).
    pub windows: BTreeMap<String, (SystemTime, SystemTime)>,
    pub requests: Vec<vstp_sim::telemetry::Request>,
    pub waits: Vec<Wait>,
    pub reactions: Vec<Duration>,
}

fn nanos(text: &serde_json::Value) -> SystemTime {
    let n: u64 = text.as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_nanos(n)
}

fn read_waits(path: &std::path::Path) -> Vec<Wait> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|w| w["met"] == true)
        .map(|w| Wait {
            started: nanos(&w["started_ns"]),
            ended: nanos(&w["ended_ns"]),
            requests: w["requests"].as_u64().unwrap_or(0),
            met_at_rv: w["met_at_rv"].as_str().and_then(|s| s.parse().ok()),
        })
        .collect()
}

/// Runs `selection` (empty: the whole catalogue) with `threads` scenarios at once (`None`:
/// vstp's default on a cluster) against `cluster`.
// The child is reaped by wait4, which also reports its CPU time and peak RSS.
#[allow(clippy::zombie_processes)]
pub fn measure(cluster: &SimCluster, selection: &[String], threads: Option<usize>) -> Measured {
    let wait_log = cluster.path("waits.jsonl");
    // Named Windows scenarios need a Windows image named on a cluster target.
    let settings = cluster.path("vstp.toml");
    std::fs::write(
        &settings,
        "[images]\nwindows = { container_disk = \"vstp.local/windows2k22:latest\" }\n",
    )
    .expect("settings written");
    let mut command = cluster.vstp_run();
    command.arg("--config").arg(&settings).args(selection);
    if let Some(n) = threads {
        command.args(["--test-threads", &n.to_string()]);
    }
    let mut child = command
        .env("VSTP_WAIT_LOG", &wait_log)
        .spawn()
        .expect("vstp starts");
    let began = Instant::now();
    let stderr = child.stderr.take().expect("piped stderr");
    let lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .map(|l| (SystemTime::now(), l))
            .collect::<Vec<_>>()
    });
    let (status, usage) = wait_with_usage(child.id());
    let wall = began.elapsed();
    let lines = lines.join().expect("stderr reader");
    assert!(
        status == 0 || status == 1,
        "vstp run exited with {status}: {:?}",
        lines.iter().rev().take(10).collect::<Vec<_>>()
    );
    let windows = windows(&lines);
    let verdicts: Vec<Vec<&str>> = lines
        .iter()
        .filter_map(|(_, l)| l.strip_prefix("vstp: "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let count = |verdict: &str| {
        verdicts
            .iter()
            .filter(|v| v.first() == Some(&verdict))
            .count()
    };
    // `vstp: run ID on TARGET with N thread(s): …`
    let threads = verdicts
        .iter()
        .find(|v| v.first() == Some(&"run"))
        .and_then(|v| v.get(5)?.parse().ok())
        .unwrap_or(0);
    let telemetry = cluster.telemetry();
    let waits = read_waits(&wait_log);
    let reactions = waits
        .iter()
        .filter_map(|w| {
            let changed = telemetry.changed_at(w.met_at_rv?)?;
            // A change made before the wait began is met as soon as the watch delivers it.
            let from = changed.max(w.started);
            w.ended.duration_since(from).ok()
        })
        .collect();
    let cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
    Measured {
        wall,
        cpu,
        peak_rss_kib: usage.ru_maxrss,
        passed: count("passed"),
        failed: count("FAILED"),
        failures: verdicts
            .iter()
            .filter(|v| v.first() == Some(&"FAILED"))
            .filter_map(|v| Some(v.get(1)?.to_string()))
            .collect(),
        threads,
        windows,
        requests: telemetry.requests(),
        waits,
        reactions,
    }
}

pub fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Waits for child `pid` and returns its exit code and resource usage.
pub fn wait_with_usage(pid: u32) -> (i32, libc::rusage) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet reaped; both pointers are valid for writes.
    let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid as libc::pid_t, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage)
}

/// Trial name → (started, ended), from `vstp: started NAME` and `vstp: <verdict> NAME in …`.
pub fn windows(lines: &[(SystemTime, String)]) -> BTreeMap<String, (SystemTime, SystemTime)> {
    let mut started = BTreeMap::new();
    let mut windows = BTreeMap::new();
    for (at, line) in lines {
        let Some(rest) = line.strip_prefix("vstp: ") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        match words[..] {
            ["started", name] => {
                started.insert(name.to_string(), *at);
            }
            [_, name, "in", ..] => {
                if let Some(from) = started.remove(name) {
                    windows.insert(name.to_string(), (from, *at));
                }
            }
            _ => {}
        }
    }
    windows
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Requests per trial window, and what a 5 s poller would have sent for the same waits.
pub struct Requests {
    pub trial: String,
    pub counted: u64,
    pub polling: u64,
    /// Of `counted` and `polling`: the requests spent waiting.
    pub waiting: u64,
    pub polls: u64,
}

/// A poller samples at the start of a wait and then every 5 s (modelled) until it sees the
/// state: one GET, and one more per started interval.
pub fn polls(w: &Wait, time_scale: f64) -> u64 {
    let real = w.ended.duration_since(w.started).unwrap_or_default();
    let modelled = real.as_secs_f64() * time_scale;
    1 + (modelled / POLL_EVERY_SECS).ceil() as u64
}

pub fn requests_per_trial(run: &Measured, time_scale: f64) -> Vec<Requests> {
    let within = |t: SystemTime, (from, to): (SystemTime, SystemTime)| t >= from && t <= to;
    run.windows
        .iter()
        .map(|(trial, window)| {
            let counted = run
                .requests
                .iter()
                .filter(|r| within(r.at, *window))
                .count() as u64;
            let waits: Vec<&Wait> = run
                .waits
                .iter()
                .filter(|w| within(w.started, *window))
                .collect();
            let waiting: u64 = waits.iter().map(|w| w.requests).sum();
            let polls: u64 = waits.iter().map(|w| polls(w, time_scale)).sum();
            Requests {
                trial: trial.clone(),
                counted,
                polling: counted.saturating_sub(waiting) + polls,
                waiting,
                polls,
            }
        })
        .collect()
}

pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

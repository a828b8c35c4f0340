//! `cargo bench --bench catalogue`: what a catalogue run costs, measured, not guessed.
//!
//! The simulator runs in this process; `vstp run --target cluster` runs as a child process
//! against it, so the child's CPU time and peak RSS are the harness's alone. It measures:
//! - wall time of the whole catalogue and of the independent scenarios (no drain, no node
//!   networking) at 1 and N scenarios at a time, and the speed-ups;
//! - reaction latency: from the simulator committing the change that met a wait (it records
//!   when each resourceVersion was committed) to the harness's wait ending (the harness logs
//!   each wait with `VSTP_WAIT_LOG`), p50 and p99;
//! - API requests per scenario, counted by the simulator, against a client that polls every
//!   5 s of modelled time as the downstream Python suite does: the same non-wait requests,
//!   and for each of the same waits one GET per 5 s it lasted (at least one);
//! - the harness's CPU time and peak RSS for the catalogue.
//!
//! The table is printed and saved to `target/vstp-bench.md`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant, SystemTime};

#[path = "../tests/support/mod.rs"]
mod support;

use support::SimCluster;

/// Scenarios at once in the parallel runs: the simulator's default (twice the cores, at
/// least four).
fn parallel() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cores).max(4)
}

/// The polling interval of the baseline client, in modelled seconds.
const POLL_EVERY_SECS: f64 = 5.0;

struct Wait {
    started: SystemTime,
    ended: SystemTime,
    requests: u64,
    met_at_rv: Option<u64>,
}

struct Measured {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: i64,
    passed: usize,
    failed: usize,
    /// Per trial: when it started and ended (from the run's stderr).
    windows: BTreeMap<String, (SystemTime, SystemTime)>,
    requests: Vec<vstp_sim::telemetry::Request>,
    waits: Vec<Wait>,
    reactions: Vec<Duration>,
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

/// Runs `selection` (empty: the whole catalogue) with `threads` scenarios at once.
// The child is reaped by wait4, which also reports its CPU time and peak RSS.
#[allow(clippy::zombie_processes)]
fn measure(selection: &[String], threads: usize, seed: u64) -> Measured {
    let cluster = SimCluster::start("bench", "", seed);
    let wait_log = cluster.path("waits.jsonl");
    // Named Windows scenarios need a Windows image named on a cluster target.
    let settings = cluster.path("vstp.toml");
    std::fs::write(
        &settings,
        "[images]\nwindows = { container_disk = \"vstp.local/windows2k22:latest\" }\n",
    )
    .expect("settings written");
    let mut child = cluster
        .vstp_run()
        .arg("--config")
        .arg(&settings)
        .args(selection)
        .args(["--test-threads", &threads.to_string()])
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
    let verdicts: Vec<&str> = lines
        .iter()
        .filter_map(|(_, l)| l.strip_prefix("vstp: "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
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
        passed: verdicts.iter().filter(|v| **v == "passed").count(),
        failed: verdicts.iter().filter(|v| **v == "FAILED").count(),
        windows,
        requests: telemetry.requests(),
        waits,
        reactions,
    }
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Waits for child `pid` and returns its exit code and resource usage.
fn wait_with_usage(pid: u32) -> (i32, libc::rusage) {
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
fn windows(lines: &[(SystemTime, String)]) -> BTreeMap<String, (SystemTime, SystemTime)> {
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Requests per trial window, and what a 5 s poller would have sent for the same waits.
struct Requests {
    trial: String,
    counted: u64,
    polling: u64,
    /// Of `counted` and `polling`: the requests spent waiting.
    waiting: u64,
    polls: u64,
}

/// A poller samples at the start of a wait and then every 5 s (modelled) until it sees the
/// state: one GET, and one more per started interval.
fn polls(w: &Wait, time_scale: f64) -> u64 {
    let real = w.ended.duration_since(w.started).unwrap_or_default();
    let modelled = real.as_secs_f64() * time_scale;
    1 + (modelled / POLL_EVERY_SECS).ceil() as u64
}

fn requests_per_trial(run: &Measured, time_scale: f64) -> Vec<Requests> {
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

/// What the requests of a run were: watches, lists and gets, writes, port-forwards.
fn breakdown(run: &Measured) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &run.requests {
        let what = match r.method.as_str() {
            _ if r.path.ends_with("/tcp") || r.path.contains("/portforward") => "port-forward",
            "GET" if r.watch => "watch",
            "GET" => "get/list",
            "POST" => "create",
            "PATCH" | "PUT" => "update",
            "DELETE" => "delete",
            _ => "other",
        };
        *counts.entry(what).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    parts.join(", ")
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn independent_trials() -> Vec<String> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    let planned = vstp::cli::planned_or_problems(&root).unwrap_or_else(|p| panic!("{p:?}"));
    planned
        .iter()
        .filter(|p| !p.scenario.decl.disruptive && !p.scenario.decl.node_networking)
        .map(|p| p.scenario.decl.trial_name())
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not meaningful here.
    let seed: u64 = std::env::var("VSTP_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261130);
    let n = parallel();
    let time_scale = vstp_sim::DEFAULT_TIME_SCALE;
    let independent = independent_trials();
    eprintln!(
        "bench: whole catalogue at 1 and {n} at a time, then {} independent scenarios",
        independent.len()
    );
    let serial = measure(&[], 1, seed);
    let wide = measure(&[], n, seed);
    let ind_serial = measure(&independent, 1, seed);
    let ind_wide = measure(&independent, n, seed);

    let mut reactions: Vec<Duration> = [&serial, &wide, &ind_serial, &ind_wide]
        .iter()
        .flat_map(|m| m.reactions.iter().copied())
        .collect();
    reactions.sort();
    let per_trial = requests_per_trial(&serial, time_scale);
    let sum = |f: fn(&Requests) -> u64| per_trial.iter().map(f).sum::<u64>();
    let (counted, polling) = (sum(|r| r.counted), sum(|r| r.polling));
    let (waiting, polled) = (sum(|r| r.waiting), sum(|r| r.polls));
    let trials = per_trial.len().max(1) as f64;
    let speedup = |a: &Measured, b: &Measured| a.wall.as_secs_f64() / b.wall.as_secs_f64();
    let (all_up, ind_up) = (speedup(&serial, &wide), speedup(&ind_serial, &ind_wide));
    let ratio = polling as f64 / counted.max(1) as f64;
    let p99 = percentile(&reactions, 99.0);

    let mut out = String::new();
    out += &format!(
        "vstp benchmark: {} cores, seed {seed}, time scale {time_scale}×, N = {n}\n\n",
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
    out += "| measurement | value | goal |\n|---|---|---|\n";
    let mut row = |what: String, value: String, goal: &str| {
        out += &format!("| {what} | {value} | {goal} |\n");
    };
    for (label, m) in [
        ("whole catalogue, 1 at a time", &serial),
        (&*format!("whole catalogue, {n} at a time"), &wide),
    ] {
        row(
            label.to_string(),
            format!(
                "{} ({} passed, {} failed)",
                secs(m.wall),
                m.passed,
                m.failed
            ),
            "",
        );
    }
    row(
        "whole catalogue speed-up".into(),
        format!(
            "{all_up:.2}× ({:.2} N; drains run alone, node-networking rows one at a time)",
            all_up / n as f64
        ),
        "",
    );
    row(
        format!("{} independent scenarios, 1 at a time", independent.len()),
        secs(ind_serial.wall),
        "",
    );
    row(
        format!("{} independent scenarios, {n} at a time", independent.len()),
        secs(ind_wide.wall),
        "",
    );
    row(
        "independent speed-up".into(),
        format!("{ind_up:.2}× = {:.2} N", ind_up / n as f64),
        "≥ 0.8 N",
    );
    row(
        format!(
            "reaction latency p50 / p99 ({} waits met by a change)",
            reactions.len()
        ),
        format!("{} / {}", ms(percentile(&reactions, 50.0)), ms(p99)),
        "p99 < 20 ms",
    );
    row(
        "API requests per scenario: vstp / 5 s polling".into(),
        format!(
            "{:.1} / {:.1} ({ratio:.1}× fewer)",
            counted as f64 / trials,
            polling as f64 / trials
        ),
        "≥ 10× fewer",
    );
    row(
        "of which spent waiting: vstp / 5 s polling".into(),
        format!(
            "{:.1} / {:.1} ({:.1}× fewer)",
            waiting as f64 / trials,
            polled as f64 / trials,
            polled as f64 / waiting.max(1) as f64
        ),
        "",
    );
    let mut modelled: Vec<Duration> = serial
        .waits
        .iter()
        .map(|w| {
            w.ended
                .duration_since(w.started)
                .unwrap_or_default()
                .mul_f64(time_scale)
        })
        .collect();
    modelled.sort();
    row(
        "modelled wait length p50 / p90 (the poller's cost grows with it)".into(),
        format!(
            "{} / {}",
            secs(percentile(&modelled, 50.0)),
            secs(percentile(&modelled, 90.0))
        ),
        "",
    );
    row(
        "vstp's requests, whole catalogue at 1".into(),
        breakdown(&serial),
        "",
    );
    row(
        "harness CPU time (user + system), whole catalogue".into(),
        format!("{} at 1, {} at {n}", secs(serial.cpu), secs(wide.cpu)),
        "",
    );
    row(
        "harness peak RSS, whole catalogue".into(),
        format!(
            "{:.1} MiB at 1, {:.1} MiB at {n}",
            serial.peak_rss_kib as f64 / 1024.0,
            wide.peak_rss_kib as f64 / 1024.0
        ),
        "",
    );
    out += "\nAPI requests per scenario (whole catalogue, 1 at a time; waiting in brackets):\n\n| scenario | vstp | 5 s polling |\n|---|---|---|\n";
    for r in &per_trial {
        out += &format!(
            "| {} | {} ({}) | {} ({}) |\n",
            r.trial, r.counted, r.waiting, r.polling, r.polls
        );
    }
    println!("{out}");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        std::path::PathBuf::from,
    );
    let _ = std::fs::write(target.join("vstp-bench.md"), &out);
}

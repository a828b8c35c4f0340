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
use std::time::Duration;

mod common;

use common::*;

/// Scenarios at once in the parallel runs: the simulator's default (twice the cores, at
/// least four).
fn parallel() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cores).max(4)
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
    let run = |selection: &[String], threads| {
        measure(
            &SimCluster::start("bench", "", seed),
            selection,
            Some(threads),
        )
    };
    let serial = run(&[], 1);
    let wide = run(&[], n);
    let ind_serial = run(&independent, 1);
    let ind_wide = run(&independent, n);

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

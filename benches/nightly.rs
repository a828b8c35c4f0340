//! `cargo bench --bench nightly`: does the whole catalogue fit a nightly on a three-worker
//! bare-metal cluster? The simulator models that cluster's durations (`bare-metal` profile,
//! sim/src/durations.rs) on its virtual clock; `vstp run --target cluster` runs the catalogue
//! against it at 1 scenario at a time and at vstp's default on a cluster. It reports:
//! - the modelled makespan: a run takes M/s + H real seconds at time scale s, where M is the
//!   modelled time on the critical path and H the harness's own real work (SSH, API calls),
//!   which no scale shortens. Two runs at scales s1 < s2 give M and H; M + H is what the run
//!   would take on the cluster (H counted as it was here). Real time × s1 is also shown: an
//!   upper bound that counts H as if it were modelled;
//! - API requests per scenario against a client that polls every 5 s of modelled time, under
//!   the same durations (the poller's cost grows with the length of the waits).
//!
//! The table is printed and saved to `target/vstp-nightly.md`.

use std::time::Duration;

mod common;

use common::*;

/// Time scales of the two runs the makespan is fitted from. At 60× a bare-metal Windows boot
/// (about 6 modelled minutes) takes 6 real seconds; at 240× the shortest modelled step (2 s)
/// still takes 8 ms, longer than the simulator's reaction to it.
const SCALES: [f64; 2] = [60.0, 240.0];

/// Prow's default step timeout: the goal for the whole catalogue.
const GOAL: Duration = Duration::from_secs(2 * 3600);

fn cluster(scale: f64) -> SimCluster {
    let spec = vstp_sim::world::nodes::ClusterSpec {
        durations: vstp_sim::durations::Durations::bare_metal(),
        ..vstp_sim::world::nodes::ClusterSpec::tidy()
    };
    let config = vstp_sim::SimConfig {
        time_scale: scale,
        // No seed: exact durations, so both scales model the same run.
        seed: None,
        ..vstp_sim::SimConfig::cluster(spec).expect("a bare-metal cluster")
    };
    SimCluster::with_config(&format!("nightly-{scale}"), config)
}

/// The two runs at one parallelism, and what they give.
struct Fitted {
    runs: [Measured; 2],
    /// Modelled seconds on the critical path.
    modelled: f64,
    /// Real seconds of harness work.
    harness: f64,
}

impl Fitted {
    fn measure(threads: Option<usize>) -> Fitted {
        let runs = SCALES.map(|scale| {
            eprintln!("nightly: whole catalogue at {scale}×, threads {threads:?}");
            measure(&cluster(scale), &[], threads)
        });
        let [fast, faster] = [&runs[0], &runs[1]].map(|m| m.wall.as_secs_f64());
        let modelled = ((fast - faster) / (1.0 / SCALES[0] - 1.0 / SCALES[1])).max(0.0);
        let harness = (fast - modelled / SCALES[0]).max(0.0);
        Fitted {
            runs,
            modelled,
            harness,
        }
    }

    fn makespan(&self) -> Duration {
        Duration::from_secs_f64(self.modelled + self.harness)
    }

    fn upper_bound(&self) -> Duration {
        self.runs[0].wall.mul_f64(SCALES[0])
    }

    fn verdicts(&self) -> String {
        let parts: Vec<String> = self
            .runs
            .iter()
            .zip(SCALES)
            .map(|(m, s)| {
                let failed = match m.failures.is_empty() {
                    true => String::new(),
                    false => format!(": {}", m.failures.join(", ")),
                };
                format!("{s}×: {} passed, {} failed{failed}", m.passed, m.failed)
            })
            .collect();
        parts.join("; ")
    }
}

fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
}

fn makespan_rows(out: &mut String, label: &str, f: &Fitted) {
    let goal = match f.makespan() <= GOAL {
        true => "met",
        false => "missed",
    };
    *out += &format!(
        "| whole catalogue, {label} | {} (M {} + H {:.0} s); upper bound {} | < 2h: {goal} |\n",
        hms(f.makespan()),
        hms(Duration::from_secs_f64(f.modelled)),
        f.harness,
        hms(f.upper_bound()),
    );
    *out += &format!(
        "| real time at {}× / {}× ({label}) | {} / {} ({}) | |\n",
        SCALES[0],
        SCALES[1],
        secs(f.runs[0].wall),
        secs(f.runs[1].wall),
        f.verdicts()
    );
}

fn main() {
    let serial = Fitted::measure(Some(1));
    let wide = Fitted::measure(None);
    let n = wide.runs[0].threads;
    let per_trial = requests_per_trial(&serial.runs[0], SCALES[0]);
    let sum = |f: fn(&Requests) -> u64| per_trial.iter().map(f).sum::<u64>();
    let (counted, polling) = (sum(|r| r.counted), sum(|r| r.polling));
    let trials = per_trial.len().max(1) as f64;
    let ratio = polling as f64 / counted.max(1) as f64;

    let mut out = format!(
        "vstp nightly benchmark: bare-metal durations, three workers, N = {n} (vstp's default \
         on this cluster), time scales {}× and {}×\n\n| measurement | value | goal |\n|---|---|---|\n",
        SCALES[0], SCALES[1]
    );
    makespan_rows(&mut out, "1 at a time", &serial);
    makespan_rows(&mut out, &format!("{n} at a time"), &wide);
    out += &format!(
        "| speed-up at {n} | {:.2}× | |\n",
        serial.makespan().as_secs_f64() / wide.makespan().as_secs_f64()
    );
    out += &format!(
        "| API requests per scenario: vstp / 5 s polling | {:.1} / {:.1} ({ratio:.1}× fewer) | ≥ 10× fewer |\n",
        counted as f64 / trials,
        polling as f64 / trials
    );
    out += &format!(
        "| of which spent waiting: vstp / 5 s polling | {:.1} / {:.1} | |\n",
        sum(|r| r.waiting) as f64 / trials,
        sum(|r| r.polls) as f64 / trials
    );
    out += "\nPer scenario (1 at a time; modelled = real × scale at 60×, an upper bound; requests with waiting in brackets):\n\n| scenario | modelled | vstp | 5 s polling |\n|---|---|---|---|\n";
    for r in &per_trial {
        let window = serial.runs[0].windows[&r.trial];
        let real = window.1.duration_since(window.0).unwrap_or_default();
        out += &format!(
            "| {} | {} | {} ({}) | {} ({}) |\n",
            r.trial,
            hms(real.mul_f64(SCALES[0])),
            r.counted,
            r.waiting,
            r.polling,
            r.polls
        );
    }
    println!("{out}");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
        std::path::PathBuf::from,
    );
    let _ = std::fs::write(target.join("vstp-nightly.md"), &out);
}

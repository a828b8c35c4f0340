//! Interrupting `vstp run` as CI and users do: SIGINT (Ctrl-C) and SIGTERM (a CI timeout) at
//! random moments of a whole-catalogue run must still write JUnit, delete everything the run
//! created and uncordon the nodes it drained; after SIGKILL, which nothing can catch,
//! `vstp cleanup --run-id` must remove what the run left, its SSH key directory included.
//!
//! The simulator lives in the test process, so it outlives the `vstp` process it serves.
//! Moments are drawn from a seed printed by each test (`VSTP_INTERRUPT_SEED` repeats them).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::Duration;

use rand::{RngExt, SeedableRng};

mod support;

use support::snapshot::Snapshot;
use support::SimCluster;

/// How long a signalled run may take to tear down and exit.
const EXIT_BUDGET: Duration = Duration::from_secs(180);

/// A `vstp run` of the whole catalogue against `cluster`, started in the background.
struct Running {
    pid: u32,
    /// Taken by the thread that waits for it.
    child: Option<Child>,
    run_id: String,
    /// stderr lines, as they come (the run prints its ID first).
    lines: mpsc::Receiver<String>,
    exited: Option<mpsc::Receiver<std::process::ExitStatus>>,
}

fn start(cluster: &SimCluster) -> Running {
    let mut child = cluster.vstp_run().spawn().expect("vstp starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let run_id = lines
        .iter()
        .find_map(|l| {
            l.strip_prefix("vstp: run ")
                .and_then(|r| r.split_whitespace().next())
                .map(String::from)
        })
        .expect("vstp prints its run ID before it runs anything");
    Running {
        pid: child.id(),
        child: Some(child),
        run_id,
        lines,
        exited: None,
    }
}

impl Running {
    fn signal(&mut self, name: &str) {
        let pid = self.pid.to_string();
        let sent = Command::new("kill").args(["-s", name, &pid]).status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "cannot send {name} to {pid}"
        );
    }

    /// The exit status, within the budget; the error names the last things the run said.
    fn wait(&mut self) -> Result<std::process::ExitStatus, String> {
        let child = self.child.take();
        let exited = self.exited.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel();
            let mut child = child.expect("waited for once");
            std::thread::spawn(move || {
                if let Ok(status) = child.wait() {
                    let _ = tx.send(status);
                }
            });
            rx
        });
        exited.recv_timeout(EXIT_BUDGET).map_err(|_| {
            let said: Vec<String> = self.lines.try_iter().collect();
            let tail = said[said.len().saturating_sub(15)..].join("\n");
            format!("vstp did not exit within {EXIT_BUDGET:?}; it last said:\n{tail}")
        })
    }
}

fn seed(test: &str) -> u64 {
    let seed = std::env::var("VSTP_INTERRUPT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("{test}: seed {seed} (VSTP_INTERRUPT_SEED={seed} repeats the moments)");
    seed
}

/// Interrupts a run with `signal` after `delay`, then checks what a user relies on.
/// `before` is the cluster as it was before any run: whatever differs after is the run's.
fn interrupt(
    cluster: &SimCluster,
    before: &Snapshot,
    signal: &str,
    delay: Duration,
    expected_code: i32,
) {
    let mut run = start(cluster);
    // A timer, not a poll: the moment is the point of the test.
    std::thread::sleep(delay);
    run.signal(signal);
    let status = run
        .wait()
        .unwrap_or_else(|e| panic!("{signal} after {delay:?}: {e}"));
    let context = format!("{signal} after {delay:?} (run {})", run.run_id);
    assert_eq!(status.code(), Some(expected_code), "{context}: exit status");
    let junit = std::fs::read_to_string(cluster.path("artifacts").join("junit_vstp.xml"))
        .unwrap_or_else(|e| panic!("{context}: no JUnit: {e}"));
    assert!(
        junit.contains("<testcase") && junit.contains("interrupted"),
        "{context}: the JUnit does not list the interrupted cases:\n{junit}"
    );
    let left = before.changes_to(&cluster.snapshot());
    assert!(left.is_empty(), "{context}: the run left {left:#?}");
    let _ = std::fs::remove_file(cluster.path("artifacts").join("junit_vstp.xml"));
}

#[test]
fn sigint_and_sigterm_at_random_moments_leave_junit_and_nothing_else() {
    let seed = seed("sigint_and_sigterm");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let cluster = SimCluster::start("interrupts", "", seed);
    let before = cluster.snapshot();
    for (signal, code) in [("INT", 130), ("TERM", 143), ("INT", 130), ("TERM", 143)] {
        // The catalogue takes about 40 s one scenario at a time: these moments fall inside
        // a scenario's body, its teardown, or between two scenarios.
        let delay = Duration::from_millis(rng.random_range(300..12_000));
        interrupt(&cluster, &before, signal, delay, code);
    }
}

#[test]
fn after_sigkill_cleanup_by_run_id_removes_what_the_run_left() {
    let seed = seed("sigkill");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let cluster = SimCluster::start("sigkill", "", seed);
    let before = cluster.snapshot();
    let mut run = start(&cluster);
    // Killed once it has created something, at a random point after that.
    let created = run
        .lines
        .iter()
        .any(|l| l.contains("vstp: passed") || l.contains("vstp: FAILED"));
    assert!(created, "the run ended before its first scenario finished");
    std::thread::sleep(Duration::from_millis(rng.random_range(0..3_000)));
    run.signal("KILL");
    let status = run.wait().expect("a killed process exits at once");
    assert_eq!(
        status.code(),
        None,
        "SIGKILL ends the process without an exit code"
    );
    let left = before.changes_to(&cluster.snapshot());
    assert!(
        !left.is_empty(),
        "a killed run in mid-catalogue leaves something to clean"
    );
    let key_dirs = || -> Vec<String> {
        std::fs::read_dir(std::env::temp_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(&format!("vstp-key-{}-", run.run_id)))
            .collect()
    };
    assert!(
        !key_dirs().is_empty(),
        "the killed run's key directory is not where cleanup looks"
    );

    let cleanup = Command::new(env!("CARGO_BIN_EXE_vstp"))
        .args([
            "cleanup",
            "--target",
            "cluster",
            "--run-id",
            &run.run_id,
            "--kubeconfig",
        ])
        .arg(&cluster.kubeconfig)
        .output()
        .expect("vstp cleanup runs");
    let said = String::from_utf8_lossy(&cleanup.stdout).to_string()
        + &String::from_utf8_lossy(&cleanup.stderr);
    assert!(cleanup.status.success(), "vstp cleanup failed:\n{said}");
    let after = before.changes_to(&cluster.snapshot());
    assert!(
        after.is_empty(),
        "after cleanup: {after:#?}\ncleanup said:\n{said}"
    );
    assert!(
        key_dirs().is_empty(),
        "cleanup left the key directory: {:?}",
        key_dirs()
    );
}

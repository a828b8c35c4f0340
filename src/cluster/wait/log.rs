//! The wait log: with `VSTP_WAIT_LOG=FILE`, every wait appends one JSON line to FILE (what it
//! awaited, when it started and ended, how many API requests it made, and the
//! resourceVersion of the change that met it). The benchmark reads it to time reactions and
//! to compare request counts with a polling client; it also shows where a slow run waited.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use serde_json::json;

/// What following a watch took: its API requests (lists and watch streams), the
/// resourceVersion of the change that met the check (none when it held from the start), and
/// why part of a replay's history may be missing.
#[derive(Debug, Default)]
pub struct Followed {
    pub requests: u32,
    pub met_at: Option<String>,
    pub lost: Option<String>,
}

pub const ENV: &str = "VSTP_WAIT_LOG";

fn sink() -> Option<&'static Mutex<std::fs::File>> {
    static SINK: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let path = std::env::var_os(ENV).filter(|p| !p.is_empty())?;
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(file) => Some(Mutex::new(file)),
            Err(e) => {
                eprintln!(
                    "vstp: {ENV}={}: cannot open it ({e}); waits are not logged",
                    path.to_string_lossy()
                );
                None
            }
        }
    })
    .as_ref()
}

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

pub fn record(awaited: &str, watched: &str, started: SystemTime, followed: &Followed, met: bool) {
    let Some(sink) = sink() else { return };
    let line = json!({
        "awaited": awaited,
        "watched": watched,
        "started_ns": nanos(started).to_string(),
        "ended_ns": nanos(SystemTime::now()).to_string(),
        "requests": followed.requests,
        "met": met,
        "met_at_rv": followed.met_at,
    });
    let mut file = sink.lock().unwrap_or_else(|p| p.into_inner());
    let _ = writeln!(file, "{line}");
}

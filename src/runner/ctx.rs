//! What a scenario gets: its identity, its step log, its artifact folder and (lazily) the cluster.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::shared::Shared;

/// The step log of one scenario: each line stamped with the time since the scenario began.
#[derive(Debug)]
pub struct StepLog {
    started: Instant,
    lines: Mutex<Vec<String>>,
}

impl StepLog {
    pub fn new() -> StepLog {
        StepLog {
            started: Instant::now(),
            lines: Mutex::new(Vec::new()),
        }
    }

    pub fn push(&self, text: &str) {
        let line = format!("[{:>8.3}s] {text}", self.started.elapsed().as_secs_f64());
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    pub fn render(&self) -> String {
        let mut out = self
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }
}

impl Default for StepLog {
    fn default() -> Self {
        Self::new()
    }
}

/// Handed to every scenario body. Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub(super) shared: Arc<Shared>,
    pub(super) trial: Arc<str>,
    pub(super) artifacts: PathBuf,
    pub(super) log: Arc<StepLog>,
}

impl Ctx {
    /// Records a step in the scenario's log (and so in JUnit `system-out`).
    pub fn step(&self, text: impl AsRef<str>) {
        self.log.push(text.as_ref());
    }

    pub fn run_id(&self) -> &str {
        &self.shared.config.run_id
    }

    pub fn trial(&self) -> &str {
        &self.trial
    }

    /// This scenario's artifact folder (created on first use by whoever writes there).
    pub fn artifacts(&self) -> &Path {
        &self.artifacts
    }

    /// The cluster client, connecting the target on first use.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        Ok(self.shared.target().await?.client.clone())
    }
}

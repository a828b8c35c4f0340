//! The step log of one scenario: each line stamped with the time since the scenario began.

use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct StepLog {
    started: Instant,
    lines: Mutex<Vec<String>>,
    /// Measurements the scenario reports as JUnit properties of its case, in order.
    properties: Mutex<Vec<(String, String)>>,
}

impl StepLog {
    pub fn new() -> StepLog {
        StepLog {
            started: Instant::now(),
            lines: Mutex::new(Vec::new()),
            properties: Mutex::new(Vec::new()),
        }
    }

    pub fn property(&self, name: &str, value: &str) {
        let mut properties = self.properties.lock().unwrap_or_else(|p| p.into_inner());
        properties.push((name.to_string(), value.to_string()));
    }

    pub fn properties(&self) -> Vec<(String, String)> {
        self.properties
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn push(&self, text: &str) {
        let line = format!("[{:>8.3}s] {text}", self.started.elapsed().as_secs_f64());
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    pub fn render(&self) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = lines.join("\n");
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

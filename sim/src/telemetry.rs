//! What the simulator saw, for benchmarks: every API request (when, what), and when each
//! resourceVersion was committed, so a client's reaction to a change can be timed from the
//! moment the change happened. Wall-clock times, comparable across processes on one machine.

use std::sync::Mutex;
use std::time::SystemTime;

/// Entries kept of each log; a long-running `vstp sim serve` stops recording past them.
const KEPT: usize = 2_000_000;

/// One API request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    pub at: SystemTime,
    pub method: String,
    pub path: String,
    /// A watch (`?watch=true`), as opposed to a single request and answer.
    pub watch: bool,
}

#[derive(Debug, Default)]
pub struct Telemetry {
    requests: Mutex<Vec<Request>>,
    /// Requests refused before they were served: no bearer token, or not the cluster's.
    unauthenticated: Mutex<Vec<Request>>,
    /// (resourceVersion, commit time), in resourceVersion order.
    changes: Mutex<Vec<(u64, SystemTime)>>,
}

impl Telemetry {
    pub fn request(&self, method: &str, path: &str, query: Option<&str>) {
        record(&self.requests, method, path, query);
    }

    /// A request answered 401 Unauthorized.
    pub fn unauthenticated(&self, method: &str, path: &str, query: Option<&str>) {
        record(&self.unauthenticated, method, path, query);
    }

    /// The requests answered 401, in order: how often a client asked again with a token
    /// the server does not accept.
    pub fn unauthenticated_requests(&self) -> Vec<Request> {
        self.unauthenticated
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Called under the store's lock, in resourceVersion order.
    pub fn changed(&self, rv: u64) {
        let mut changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        if changes.len() < KEPT {
            changes.push((rv, SystemTime::now()));
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// When resourceVersion `rv` was committed.
    pub fn changed_at(&self, rv: u64) -> Option<SystemTime> {
        let changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let i = changes.binary_search_by_key(&rv, |(v, _)| *v).ok()?;
        Some(changes[i].1)
    }
}

fn record(log: &Mutex<Vec<Request>>, method: &str, path: &str, query: Option<&str>) {
    let watch = query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let mut requests = log.lock().unwrap_or_else(|p| p.into_inner());
    if requests.len() < KEPT {
        requests.push(Request {
            at: SystemTime::now(),
            method: method.to_string(),
            path: path.to_string(),
            watch,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_are_told_apart_and_changes_are_found_by_version() {
        let t = Telemetry::default();
        t.request("GET", "/api/v1/pods", Some("watch=true&resourceVersion=5"));
        t.request("GET", "/api/v1/pods", Some("labelSelector=a%3Dwatch"));
        let watches: Vec<bool> = t.requests().iter().map(|r| r.watch).collect();
        assert_eq!(watches, [true, false]);
        t.changed(7);
        t.changed(9);
        assert!(t.changed_at(9).is_some());
        assert!(t.changed_at(8).is_none());
    }
}

//! The fault catalogue: trouble the simulator can be started with. This part holds the
//! infrastructure faults of the API layer; a harness must survive every one of them. Product
//! regressions of the simulated world join the catalogue with the world.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ApiError;

/// One entry of the catalogue.
pub struct FaultSpec {
    pub name: &'static str,
    pub what: &'static str,
}

pub const CATALOGUE: &[FaultSpec] = &[
    FaultSpec {
        name: "api-throttle",
        what: "every 7th request to a resource answers 429 TooManyRequests with Retry-After: 1",
    },
    FaultSpec {
        name: "api-unavailable",
        what: "every 11th request to a resource answers 503 ServiceUnavailable",
    },
    FaultSpec {
        name: "watch-drops",
        what:
            "every watch stream ends after 3 events, as a load balancer cutting connections would",
    },
];

/// The faults a simulator runs with. Deterministic (counters, no randomness), so a failing run
/// can be repeated exactly.
#[derive(Debug, Default)]
pub struct Faults {
    throttle: bool,
    unavailable: bool,
    watch_drops: bool,
    requests: AtomicU64,
}

impl Faults {
    /// Parses a comma-separated list of catalogue names.
    pub fn parse(list: &str) -> Result<Faults, String> {
        let mut faults = Faults::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "api-throttle" => faults.throttle = true,
                "api-unavailable" => faults.unavailable = true,
                "watch-drops" => faults.watch_drops = true,
                other => {
                    let known: Vec<&str> = CATALOGUE.iter().map(|f| f.name).collect();
                    return Err(format!(
                        "unknown fault '{other}'; the catalogue has: {}",
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(faults)
    }

    /// The failure an API request to `path` meets, if a fault hits it. Discovery is spared,
    /// as it is served from clients' caches on real clusters.
    pub fn api_failure(&self, path: &str) -> Option<ApiError> {
        if !(self.throttle || self.unavailable) || !is_resource_path(path) {
            return None;
        }
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if self.throttle && n.is_multiple_of(7) {
            return Some(ApiError::too_many_requests(
                "vstp-sim fault api-throttle: too many requests, please try again later",
            ));
        }
        if self.unavailable && n.is_multiple_of(11) {
            return Some(ApiError::new(
                503,
                "ServiceUnavailable",
                "vstp-sim fault api-unavailable: the server is currently unable to handle the request",
            ));
        }
        None
    }

    /// How many events a watch may carry before the stream is cut.
    pub fn watch_cut(&self) -> Option<usize> {
        self.watch_drops.then_some(3)
    }
}

fn is_resource_path(path: &str) -> bool {
    let depth = path.trim_matches('/').split('/').count();
    (path.starts_with("/api/") && depth > 2) || (path.starts_with("/apis/") && depth > 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_faults_name_the_catalogue() {
        let err = Faults::parse("api-throttle, guest-reboots").unwrap_err();
        assert!(
            err.contains("'guest-reboots'") && err.contains("watch-drops"),
            "{err}"
        );
        assert!(Faults::parse("").is_ok());
    }

    #[test]
    fn throttle_hits_every_seventh_resource_request_only() {
        let f = Faults::parse("api-throttle").unwrap();
        assert!(f.api_failure("/apis").is_none());
        let hits: Vec<bool> = (0..14)
            .map(|_| f.api_failure("/api/v1/namespaces/default/pods").is_some())
            .collect();
        assert_eq!(hits.iter().filter(|h| **h).count(), 2);
        assert!(hits[6] && hits[13]);
    }
}

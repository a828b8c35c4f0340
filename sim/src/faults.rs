//! The fault catalogue: trouble the simulator can be started with. Infrastructure faults
//! (API errors, dropped watches, SSH resets) a harness must survive without a false alarm;
//! product regressions (a guest that reboots, a MAC that changes, a mode misreported) a
//! harness must catch. Each regression is checked where the behaviour it breaks lives.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ApiError;

/// Whether a fault breaks the product or only troubles the infrastructure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Product,
    Infra,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Product => "product",
            Kind::Infra => "infra",
        }
    }
}

/// One entry of the catalogue.
pub struct FaultSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub what: &'static str,
}

const fn infra(name: &'static str, what: &'static str) -> FaultSpec {
    FaultSpec {
        name,
        kind: Kind::Infra,
        what,
    }
}

const fn product(name: &'static str, what: &'static str) -> FaultSpec {
    FaultSpec {
        name,
        kind: Kind::Product,
        what,
    }
}

pub const CATALOGUE: &[FaultSpec] = &[
    infra(
        "api-throttle",
        "every 7th request to a resource answers 429 TooManyRequests with Retry-After: 1",
    ),
    infra(
        "api-unavailable",
        "every 11th request to a resource answers 503 ServiceUnavailable",
    ),
    infra(
        "watch-drops",
        "every watch stream ends after 3 events, as a load balancer cutting connections would",
    ),
    infra(
        "ssh-reset-first",
        "the first SSH connection to every guest is reset right after it opens",
    ),
    product(
        "reboot-on-nad-swap",
        "the guest reboots when a live NAD reference change migrates it",
    ),
    product(
        "mac-regenerated",
        "a migration gives secondary interfaces a new MAC on the target",
    ),
    product(
        "migration-restarts-processes",
        "every migration restarts the guest's processes under new PIDs",
    ),
    product(
        "mode-misreported",
        "migrationState.mode reports PreCopy for a migration that ended in PostCopy or Paused",
    ),
    product(
        "cpu-hotplug-not-in-guest",
        "a CPU hotplug updates the VMI but the guest keeps its CPU count",
    ),
    product(
        "memory-hotplug-not-in-guest",
        "a memory hotplug updates the VMI but the guest keeps its memory size",
    ),
    product(
        "awd-ignored",
        "a migration that cannot converge is aborted although its policy allows workload disruption",
    ),
    product(
        "eviction-without-migration",
        "evicting a virt-launcher pod deletes it without migrating the VMI first",
    ),
    product(
        "udn-ip-changes",
        "a migration gives the VM a new address on its primary UDN",
    ),
    product(
        "migration-resets-tcp",
        "a migration drops the guest's established TCP connections",
    ),
];

/// The faults a simulator runs with. Deterministic (counters, no randomness), so a failing run
/// can be repeated exactly.
#[derive(Debug, Default)]
pub struct Faults {
    throttle: bool,
    unavailable: bool,
    watch_drops: bool,
    /// Names of the active faults checked in the world (product regressions, SSH resets).
    world: BTreeSet<&'static str>,
    requests: AtomicU64,
}

impl Faults {
    /// Parses a comma-separated list of catalogue names.
    pub fn parse(list: &str) -> Result<Faults, String> {
        let mut faults = Faults::default();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let Some(spec) = CATALOGUE.iter().find(|f| f.name == name) else {
                let known: Vec<&str> = CATALOGUE.iter().map(|f| f.name).collect();
                return Err(format!(
                    "unknown fault '{name}'; the catalogue has: {}",
                    known.join(", ")
                ));
            };
            match spec.name {
                "api-throttle" => faults.throttle = true,
                "api-unavailable" => faults.unavailable = true,
                "watch-drops" => faults.watch_drops = true,
                other => {
                    faults.world.insert(other);
                }
            }
        }
        Ok(faults)
    }

    /// Whether fault `name` (a catalogue name checked in the world) is active.
    pub fn has(&self, name: &str) -> bool {
        debug_assert!(
            CATALOGUE.iter().any(|f| f.name == name),
            "{name} is not in the catalogue"
        );
        self.world.contains(name)
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
        let err = Faults::parse("api-throttle, guest-explodes").unwrap_err();
        assert!(
            err.contains("'guest-explodes'") && err.contains("watch-drops"),
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

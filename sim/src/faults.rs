//! The fault catalogue: trouble the simulator can be started with. Infrastructure faults
//! (API errors, dropped watches, SSH resets) a harness must survive without a false alarm;
//! product regressions (a guest that reboots, a MAC that changes, a mode misreported) a
//! harness must catch. Each regression is checked where the behaviour it breaks lives.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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
        "a fraction of resource requests (=F, default 0.1) answers 429 TooManyRequests with Retry-After: 1",
    ),
    infra(
        "api-unavailable",
        "a fraction of resource requests (=F, default 0.1) answers 500 InternalError or 503 ServiceUnavailable, in turn",
    ),
    infra(
        "watch-drops",
        "every watch stream ends after N events (=N, default 3), as a load balancer cutting connections would",
    ),
    infra(
        "expired-rv-on-resume",
        "watch streams end after 4 events and resuming from the last resourceVersion sent answers 410 Expired",
    ),
    infra(
        "ssh-reset-first",
        "the first SSH connection to every guest is reset right after it opens",
    ),
    infra(
        "slow-operations",
        "every modelled operation (boot, NNCP apply, migration, drain, hotplug) takes X times longer (=X, default 3)",
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
        "old-vlan-still-reachable",
        "after a live NAD swap the guest's NIC still bridges into the old network besides the new one",
    ),
    product(
        "target-keeps-old-nad",
        "the migration that applies a NAD swap plugs the target through the old NAD: the guest stays on the old network",
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
        "awd-ignored",
        "a migration that cannot converge is aborted although its policy allows workload disruption",
    ),
    product(
        "eviction-without-migration",
        "evicting a virt-launcher pod deletes it without migrating the VMI first",
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
        "hotplugged-nic-missing",
        "a hot-plugged NIC shows in the VMI status but never appears in the guest",
    ),
    product(
        "unplugged-nic-stays",
        "an unplugged NIC leaves the VMI but stays in the guest, still on its network",
    ),
    product(
        "udn-ip-changes",
        "a migration gives the VM a new address on its primary UDN",
    ),
    product(
        "migration-resets-tcp",
        "a migration drops the guest's established TCP connections",
    ),
    product(
        "non-migratable-changed-live",
        "a non-migratable VM's NAD swap is applied to its VMI and guest at once (RestartRequired is still reported)",
    ),
];

/// Events a watch stream carries before `expired-rv-on-resume` cuts it.
const EXPIRING_CUT: usize = 4;

/// The faults a simulator runs with. Deterministic (counters, no randomness), so a failing run
/// can be repeated exactly.
#[derive(Debug, Default)]
pub struct Faults {
    throttle: Option<f64>,
    unavailable: Option<f64>,
    watch_cut: Option<usize>,
    expire_on_resume: bool,
    slowdown: Option<f64>,
    /// Names of the active faults checked in the world (product regressions, SSH resets).
    world: BTreeSet<&'static str>,
    requests: AtomicU64,
    failures: AtomicU64,
    /// resourceVersions at which `expired-rv-on-resume` cut a stream.
    cut_at: Mutex<BTreeSet<u64>>,
}

/// Parses the `=VALUE` of a fault: a number in `range`, or `default` without one.
fn value(
    name: &str,
    raw: Option<&str>,
    default: f64,
    range: std::ops::RangeInclusive<f64>,
) -> Result<f64, String> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<f64>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(format!(
            "fault {name}={raw}: the value must be a number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

impl Faults {
    /// Parses a comma-separated list of catalogue names, some with a `=VALUE`
    /// (`api-throttle=0.2,watch-drops=5`).
    pub fn parse(list: &str) -> Result<Faults, String> {
        let mut faults = Faults::default();
        for entry in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let (name, raw) = match entry.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v)),
                None => (entry, None),
            };
            let Some(spec) = CATALOGUE.iter().find(|f| f.name == name) else {
                let known: Vec<&str> = CATALOGUE.iter().map(|f| f.name).collect();
                return Err(format!(
                    "unknown fault '{name}'; the catalogue has: {}",
                    known.join(", ")
                ));
            };
            let takes_value = matches!(
                spec.name,
                "api-throttle" | "api-unavailable" | "watch-drops" | "slow-operations"
            );
            if raw.is_some() && !takes_value {
                return Err(format!("fault {name} takes no value; write just '{name}'"));
            }
            match spec.name {
                "api-throttle" => faults.throttle = Some(value(name, raw, 0.1, 0.0..=0.9)?),
                "api-unavailable" => faults.unavailable = Some(value(name, raw, 0.1, 0.0..=0.9)?),
                "watch-drops" => {
                    faults.watch_cut = Some(value(name, raw, 3.0, 1.0..=1e6)? as usize)
                }
                "slow-operations" => faults.slowdown = Some(value(name, raw, 3.0, 1.0..=100.0)?),
                "expired-rv-on-resume" => faults.expire_on_resume = true,
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
    /// as it is served from clients' caches on real clusters. Deterministic: request n is hit
    /// when n × fraction crosses an integer.
    pub fn api_failure(&self, path: &str) -> Option<ApiError> {
        if (self.throttle.is_none() && self.unavailable.is_none()) || !is_resource_path(path) {
            return None;
        }
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let hits = |f: Option<f64>| {
            f.is_some_and(|f| (n as f64 * f).floor() > ((n - 1) as f64 * f).floor())
        };
        if hits(self.throttle) {
            return Some(ApiError::too_many_requests(
                "vstp-sim fault api-throttle: too many requests, please try again later",
            ));
        }
        if hits(self.unavailable) {
            let failure = self.failures.fetch_add(1, Ordering::Relaxed);
            return Some(if failure.is_multiple_of(2) {
                ApiError::new(
                    503,
                    "ServiceUnavailable",
                    "vstp-sim fault api-unavailable: the server is currently unable to handle the request",
                )
            } else {
                ApiError::new(
                    500,
                    "InternalError",
                    "vstp-sim fault api-unavailable: an error on the server (\"etcdserver: request timed out\") has prevented the request from succeeding",
                )
            });
        }
        None
    }

    /// How many events a watch may carry before the stream is cut.
    pub fn watch_cut(&self) -> Option<usize> {
        let expiring = self.expire_on_resume.then_some(EXPIRING_CUT);
        match (self.watch_cut, expiring) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A stream was cut after sending resourceVersion `rv`: resuming from it will expire.
    pub fn cut_after(&self, rv: u64) {
        if self.expire_on_resume {
            self.cut_at.lock().expect("cut set").insert(rv);
        }
    }

    /// Whether a watch from `rv` resumes a cut stream and must be told it expired (once).
    pub fn expires(&self, rv: u64) -> bool {
        self.expire_on_resume && self.cut_at.lock().expect("cut set").remove(&rv)
    }

    /// How many times longer modelled operations take.
    pub fn slowdown(&self) -> f64 {
        self.slowdown.unwrap_or(1.0)
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
    fn throttle_hits_its_fraction_of_resource_requests_only() {
        let f = Faults::parse("api-throttle=0.25").unwrap();
        assert!(f.api_failure("/apis").is_none());
        let hits: Vec<bool> = (0..8)
            .map(|_| f.api_failure("/api/v1/namespaces/default/pods").is_some())
            .collect();
        assert_eq!(hits, [false, false, false, true, false, false, false, true]);
    }

    #[test]
    fn unavailable_alternates_503_and_500() {
        let f = Faults::parse("api-unavailable=0.5").unwrap();
        let codes: Vec<u16> = (0..4)
            .filter_map(|_| f.api_failure("/api/v1/namespaces/default/pods"))
            .map(|e| e.code)
            .collect();
        assert_eq!(codes, [503, 500]);
    }

    #[test]
    fn values_are_checked() {
        assert!(Faults::parse("api-throttle=2")
            .unwrap_err()
            .contains("from 0 to 0.9"));
        assert!(Faults::parse("reboot-on-nad-swap=1")
            .unwrap_err()
            .contains("takes no value"));
        assert_eq!(Faults::parse("slow-operations").unwrap().slowdown(), 3.0);
        assert_eq!(Faults::parse("watch-drops=5").unwrap().watch_cut(), Some(5));
    }

    #[test]
    fn a_cut_stream_expires_once_on_resume() {
        let f = Faults::parse("expired-rv-on-resume").unwrap();
        assert_eq!(f.watch_cut(), Some(EXPIRING_CUT));
        f.cut_after(42);
        assert!(!f.expires(41));
        assert!(f.expires(42));
        assert!(!f.expires(42));
    }
}

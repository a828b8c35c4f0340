//! The fault catalogue: trouble the simulator can be started with. Infrastructure faults
//! (API errors, dropped watches, SSH resets) a harness must survive without a false alarm;
//! product regressions (a guest that reboots, a MAC that changes, a mode misreported) a
//! harness must catch; tolerated changes (a product change within what the plans accept) it
//! must not. Each regression is checked where the behaviour it breaks lives.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::error::ApiError;

/// Whether a fault breaks the product or only troubles the infrastructure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Product,
    Infra,
    /// A product change within what the test plans accept (a gap under a threshold): like
    /// infrastructure trouble, it must fail nothing.
    Tolerated,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Product => "product",
            Kind::Infra => "infra",
            Kind::Tolerated => "tolerated",
        }
    }
}

/// One entry of the catalogue.
pub struct FaultSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub what: &'static str,
}

/// Defines each fault once: its variant, its name on the command line, its kind and what it
/// does. Generates [`Fault`], [`Fault::ALL`] and [`CATALOGUE`], in the same order.
macro_rules! catalogue {
    ($($fault:ident = $name:literal, $kind:ident, $what:literal;)+) => {
        /// A fault of the catalogue; code checks one by its variant, so a misspelt fault does
        /// not compile.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Fault {
            $($fault,)+
        }

        impl Fault {
            /// Every fault, in catalogue order.
            pub const ALL: &[Fault] = &[$(Fault::$fault,)+];
        }

        /// Every fault with its name, kind and description, as `vstp sim faults` lists them.
        pub const CATALOGUE: &[FaultSpec] = &[$(FaultSpec {
            name: $name,
            kind: Kind::$kind,
            what: $what,
        },)+];
    };
}

catalogue! {
    ApiThrottle = "api-throttle", Infra,
        "a fraction of resource requests (=F, default 0.1) answers 429 TooManyRequests with Retry-After: 1";
    ApiUnavailable = "api-unavailable", Infra,
        "a fraction of resource requests (=F, default 0.1) answers 500 InternalError or 503 ServiceUnavailable, in turn";
    WatchDrops = "watch-drops", Infra,
        "every watch stream ends after N events (=N, default 3), as a load balancer cutting connections would";
    ExpiredRvOnResume = "expired-rv-on-resume", Infra,
        "watch streams end after 4 events and resuming from the last resourceVersion sent answers 410 Expired";
    SshResetFirst = "ssh-reset-first", Infra,
        "the first SSH connection to every guest is reset right after it opens";
    SlowOperations = "slow-operations", Infra,
        "every modelled operation (boot, NNCP apply, migration, drain, hotplug) takes X times longer (=X, default 3)";
    NncpApplyFlaky = "nncp-apply-flaky", Infra,
        "the first N nmstate applies of every enactment fail (=N, default 2, at most 4): enactments retry, the policy is Degraded meanwhile and ends Available";
    RebootOnNadSwap = "reboot-on-nad-swap", Product,
        "the guest reboots when a live NAD reference change migrates it";
    MacRegenerated = "mac-regenerated", Product,
        "a migration gives secondary interfaces a new MAC on the target";
    OldVlanStillReachable = "old-vlan-still-reachable", Product,
        "after a live NAD swap the guest's NIC still bridges into the old network besides the new one";
    OldVlanReturns = "old-vlan-returns", Product,
        "from SECS modelled seconds (=SECS, default 5) after a live NAD swap's migration completes, the guest's NIC bridges into the old network again for 3 s of every 10 s (a stale flow a periodic resync puts back)";
    TargetKeepsOldNad = "target-keeps-old-nad", Product,
        "the migration that applies a NAD swap plugs the target through the old NAD: the guest stays on the old network";
    MigrationRestartsProcesses = "migration-restarts-processes", Product,
        "every migration restarts the guest's processes under new PIDs";
    ModeMisreported = "mode-misreported", Product,
        "migrationState.mode reports PreCopy for a migration that ended in PostCopy or Paused";
    AwdIgnored = "awd-ignored", Product,
        "a migration that cannot converge is aborted although its policy allows workload disruption";
    EvictionWithoutMigration = "eviction-without-migration", Product,
        "evicting a virt-launcher pod deletes it without migrating the VMI first";
    CpuHotplugNotInGuest = "cpu-hotplug-not-in-guest", Product,
        "a CPU hotplug updates the VMI but the guest keeps its CPU count";
    MemoryHotplugNotInGuest = "memory-hotplug-not-in-guest", Product,
        "a memory hotplug updates the VMI but the guest keeps its memory size";
    HotpluggedNicMissing = "hotplugged-nic-missing", Product,
        "a hot-plugged NIC shows in the VMI status but never appears in the guest";
    UnpluggedNicStays = "unplugged-nic-stays", Product,
        "an unplugged NIC leaves the VMI but stays in the guest, still on its network";
    UdnIpChanges = "udn-ip-changes", Product,
        "a migration gives the VM a new address on its primary UDN";
    MigrationResetsTcp = "migration-resets-tcp", Product,
        "a migration drops the guest's established TCP connections";
    NonMigratableChangedLive = "non-migratable-changed-live", Product,
        "a non-migratable VM's NAD swap reaches its launcher pod and guest at once, without a migration";
    NonMigratableMigratedLate = "non-migratable-migrated-late", Product,
        "SECS modelled seconds (=SECS, default 10) after a non-migratable VMI is asked to migrate (MigrationRequired), the workload updater migrates it anyway";
    NicHotplugSkipsMigration = "nic-hotplug-skips-migration", Product,
        "a NIC hot-plugged into a non-migratable VM reaches the guest and the VMI status (with its MAC) at once, without a migration";
    MemoryNeverOnlined = "memory-never-onlined", Product,
        "after a memory hotplug migration the guest never onlines the new memory: guestCurrent and the guest's memory keep the old size";
    MigrationStaysOnNode = "migration-stays-on-node", Product,
        "a migration is recorded completed but the VMI stays on its source node (status.nodeName and its nodeName label unchanged)";
    LauncherPodKilled = "launcher-pod-killed", Product,
        "as a migration's memory transfer starts, the VMI's source virt-launcher pod is killed (deleted): the migration fails, the VMI fails and its VM boots a new one";
    VnicMetricStale = "vnic-metric-stale", Product,
        "after a live NAD swap the vNIC info metrics (kubevirt_vmi_vnic_info, kubevirt_vm_vnic_info) keep reporting the interface's old network";
    RequestedUdnIpIgnored = "requested-udn-ip-ignored", Product,
        "OVN-K allocates a primary-UDN address as if the VM had asked for none: network.kubevirt.io/addresses is passed on but not honoured";
    UdnClaimReleasedOnStop = "udn-claim-released-on-stop", Product,
        "stopping a VM releases the address its primary-UDN IPAMClaim holds (the claim stays, empty) instead of keeping it reserved";
    SelfAnnounceLost = "self-announce-lost", Product,
        "a migration target's self-announcements (qemu's RARP rounds) never reach the network: a peer pinging the guest over a bridge or localnet waits until it resolves the address again";
    SwitchoverStretched = "switchover-stretched", Tolerated,
        "a migration's stop-and-copy pauses the guest's network for 2 s instead of 0.2 s (a gap that stays under a 5 s stun-time threshold)";
}

impl Fault {
    pub fn spec(self) -> &'static FaultSpec {
        &CATALOGUE[self as usize]
    }

    /// The kebab-case name the catalogue and the command line use.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The fault called `name` in the catalogue.
    pub fn named(name: &str) -> Option<Fault> {
        Fault::ALL.iter().copied().find(|f| f.name() == name)
    }
}

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
    nncp_apply_failures: Option<u64>,
    /// Modelled seconds after which a late regression acts (`old-vlan-returns`,
    /// `non-migratable-migrated-late`), by fault.
    late: std::collections::BTreeMap<Fault, f64>,
    /// Every active fault; those with a value also set the fields above.
    active: BTreeSet<Fault>,
    requests: AtomicU64,
    failures: AtomicU64,
    /// resourceVersions at which `expired-rv-on-resume` cut a stream.
    cut_at: Mutex<BTreeSet<u64>>,
}

/// When the late regressions act by default, in modelled seconds after the change they
/// follow. The old VLAN then comes back periodically, so only a probe that samples over a
/// whole period is sure to see it (src/guest/probes.rs, 10 echoes 1 s apart); the late
/// migration comes inside the window over which the harness holds "nothing happens"
/// (src/vm/reaction.rs QUIET_WINDOW, 60 s), after what a check at the instant sees.
const LATE_DEFAULTS: &[(Fault, f64)] = &[
    (Fault::OldVlanReturns, 5.0),
    (Fault::NonMigratableMigratedLate, 10.0),
];

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
            let Some(fault) = Fault::named(name) else {
                let known: Vec<&str> = CATALOGUE.iter().map(|f| f.name).collect();
                return Err(format!(
                    "unknown fault '{name}'; the catalogue has: {}",
                    known.join(", ")
                ));
            };
            let takes_value = matches!(
                fault,
                Fault::ApiThrottle
                    | Fault::ApiUnavailable
                    | Fault::WatchDrops
                    | Fault::SlowOperations
                    | Fault::NncpApplyFlaky
                    | Fault::OldVlanReturns
                    | Fault::NonMigratableMigratedLate
            );
            if raw.is_some() && !takes_value {
                return Err(format!("fault {name} takes no value; write just '{name}'"));
            }
            match fault {
                Fault::ApiThrottle => faults.throttle = Some(value(name, raw, 0.1, 0.0..=0.9)?),
                Fault::ApiUnavailable => {
                    faults.unavailable = Some(value(name, raw, 0.1, 0.0..=0.9)?)
                }
                Fault::WatchDrops => {
                    faults.watch_cut = Some(value(name, raw, 3.0, 1.0..=1e6)? as usize)
                }
                Fault::SlowOperations => {
                    faults.slowdown = Some(value(name, raw, 3.0, 1.0..=100.0)?)
                }
                // Below kubernetes-nmstate's five attempts, so every enactment still succeeds.
                Fault::NncpApplyFlaky => {
                    faults.nncp_apply_failures = Some(value(name, raw, 2.0, 1.0..=4.0)? as u64)
                }
                Fault::ExpiredRvOnResume => faults.expire_on_resume = true,
                Fault::OldVlanReturns | Fault::NonMigratableMigratedLate => {
                    let default = LATE_DEFAULTS.iter().find(|(f, _)| *f == fault);
                    let default = default.map_or(10.0, |(_, secs)| *secs);
                    let secs = value(name, raw, default, 0.0..=3600.0)?;
                    faults.late.insert(fault, secs);
                }
                _ => {}
            }
            faults.active.insert(fault);
        }
        Ok(faults)
    }

    /// Whether `fault` is active.
    pub fn has(&self, fault: Fault) -> bool {
        self.active.contains(&fault)
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

    /// How many of an enactment's first nmstate applies fail (nncp-apply-flaky).
    pub fn nncp_apply_failures(&self) -> u64 {
        self.nncp_apply_failures.unwrap_or(0)
    }

    /// Modelled seconds after which late regression `fault` acts (its `=SECS`).
    pub fn late(&self, fault: Fault) -> f64 {
        self.late.get(&fault).copied().unwrap_or(0.0)
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
    fn every_fault_round_trips_through_its_name() {
        assert_eq!(Fault::ALL.len(), CATALOGUE.len());
        for &fault in Fault::ALL {
            let name = fault.name();
            assert!(Faults::parse(name).unwrap().has(fault), "{name}");
            assert_eq!(Fault::named(name), Some(fault));
            let kebab = name.split('-').all(|w| {
                !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            });
            assert!(kebab, "{name} is not kebab-case");
        }
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

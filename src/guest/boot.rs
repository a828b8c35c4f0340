//! Which boot a guest runs. Linux names each boot with the kernel's random boot id, which
//! nothing but a boot changes. Windows has only `LastBootUpTime`, which it computes as its
//! clock minus its tick count: the clock stands still while the VM is paused and is then set
//! by virt-launcher through the guest agent (kubevirt v1.9.0 pkg/virt-launcher/virtwrap/
//! manager.go setGuestTime, after unpausing and after every migration), so after a Paused
//! migration the boot time is later by the pause, with no reboot at all. The pause lies
//! between the two readings, so the step is at most the time between them; a reboot moves
//! the boot time by the whole uptime the guest had, which is more unless the guest had run
//! for less time before the first reading than it has run since the reboot (then the
//! sentinel process and the uptime tell; see vm::invariants).

use std::fmt;

use std::time::Instant;

use chrono::{DateTime, FixedOffset};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// `/proc/sys/kernel/random/boot_id`.
    Id(String),
    /// `LastBootUpTime`, the guest's own clock (`LocalDateTime`) just after, and when the
    /// harness asked for the boot time and had its answer (on its own monotonic clock).
    Time {
        booted: DateTime<FixedOffset>,
        seen_up: DateTime<FixedOffset>,
        asked: Instant,
        answered: Instant,
    },
}

impl Boot {
    /// Whether `later`, read after `self`, is the same boot. On Windows the boot time may have
    /// moved by a clock step: back by a correction, or forward by at most the time between
    /// the readings (the guest cannot have been paused longer than that).
    pub fn same_as(&self, later: &Boot) -> bool {
        match (self, later) {
            (Boot::Id(a), Boot::Id(b)) => a == b,
            (
                Boot::Time {
                    booted: before,
                    asked,
                    ..
                },
                Boot::Time {
                    booted: after,
                    answered,
                    ..
                },
            ) => {
                // At least the time between the two readings, whatever the round trips took.
                let between = answered.saturating_duration_since(*asked);
                let step = after.signed_duration_since(*before);
                step.to_std().map_or(true, |forward| forward <= between)
            }
            _ => false,
        }
    }

    /// Seconds the guest ran at this reading, by its own clocks (Windows); None on Linux,
    /// whose uptime the harness reads from `/proc/uptime`.
    pub fn uptime(&self) -> Option<f64> {
        match self {
            Boot::Id(_) => None,
            Boot::Time {
                booted, seen_up, ..
            } => Some(seen_up.signed_duration_since(*booted).num_milliseconds() as f64 / 1000.0),
        }
    }
}

impl fmt::Display for Boot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Boot::Id(id) => write!(f, "boot id {id}"),
            Boot::Time {
                booted, seen_up, ..
            } => write!(
                f,
                "booted {} (guest clock {})",
                booted.to_rfc3339(),
                seen_up.to_rfc3339()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    /// Booted at `booted`, read `secs` after `start`.
    fn windows(booted: &str, start: Instant, secs: u64) -> Boot {
        Boot::Time {
            booted: at(booted),
            seen_up: at("2026-12-01T11:00:00Z"),
            asked: start + Duration::from_secs(secs),
            answered: start + Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_boot_time_stepped_by_at_most_the_time_between_readings_is_the_same_boot() {
        let t = Instant::now();
        let before = windows("2026-12-01T10:00:00Z", t, 0);
        assert!(before.same_as(&windows("2026-12-01T10:00:59.5Z", t, 60)));
        assert!(before.same_as(&windows("2026-12-01T09:59:58Z", t, 60)));
    }

    #[test]
    fn a_boot_time_moved_further_than_the_time_between_readings_is_a_reboot() {
        let t = Instant::now();
        let before = windows("2026-12-01T10:00:00Z", t, 0);
        assert!(!before.same_as(&windows("2026-12-01T10:01:00.0000001Z", t, 60)));
    }

    #[test]
    fn linux_boots_are_the_same_only_with_the_same_id() {
        let a = Boot::Id("a".into());
        assert!(a.same_as(&Boot::Id("a".into())));
        assert!(!a.same_as(&Boot::Id("b".into())));
    }
}

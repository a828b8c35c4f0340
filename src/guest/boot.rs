//! Which boot a guest runs. Linux names each boot with the kernel's random boot id, which
//! nothing but a boot changes. Windows has only `LastBootUpTime`, which it computes as its
//! clock minus its tick count: the clock stands still while the VM is paused and is then set
//! by virt-launcher through the guest agent (kubevirt v1.9.0 pkg/virt-launcher/virtwrap/
//! manager.go setGuestTime, after unpausing and after every migration), so after a Paused
//! migration the boot time is later by the pause, with no reboot at all. It is later by the
//! pause only: it cannot pass the moment the guest was last seen running, which a reboot
//! after that moment always does.

use std::fmt;

use chrono::{DateTime, FixedOffset};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// `/proc/sys/kernel/random/boot_id`.
    Id(String),
    /// `LastBootUpTime`, and the guest's own clock (`LocalDateTime`) when it was read.
    Time {
        booted: DateTime<FixedOffset>,
        seen_up: DateTime<FixedOffset>,
    },
}

impl Boot {
    /// Whether `later`, read after `self`, is the same boot. On Windows the boot time may have
    /// moved by a clock step (forward by a pause, or back by a correction) but not past the
    /// moment `self` saw the guest up: a guest that booted after it was seen up rebooted.
    pub fn same_as(&self, later: &Boot) -> bool {
        match (self, later) {
            (Boot::Id(a), Boot::Id(b)) => a == b,
            (Boot::Time { seen_up, .. }, Boot::Time { booted, .. }) => booted <= seen_up,
            _ => false,
        }
    }

    /// Seconds the guest ran at this reading, by its own clocks (Windows); None on Linux,
    /// whose uptime the harness reads from `/proc/uptime`.
    pub fn uptime(&self) -> Option<f64> {
        match self {
            Boot::Id(_) => None,
            Boot::Time { booted, seen_up } => {
                Some(seen_up.signed_duration_since(*booted).num_milliseconds() as f64 / 1000.0)
            }
        }
    }
}

impl fmt::Display for Boot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Boot::Id(id) => write!(f, "boot id {id}"),
            Boot::Time { booted, seen_up } => write!(
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
    use super::*;

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    fn windows(booted: &str, seen_up: &str) -> Boot {
        Boot::Time {
            booted: at(booted),
            seen_up: at(seen_up),
        }
    }

    #[test]
    fn a_boot_time_stepped_by_a_pause_is_the_same_boot() {
        let before = windows("2026-12-01T10:00:00Z", "2026-12-01T10:05:00Z");
        let stepped = windows("2026-12-01T10:00:12.5Z", "2026-12-01T10:09:00Z");
        assert!(before.same_as(&stepped));
        let corrected_back = windows("2026-12-01T09:59:58Z", "2026-12-01T10:09:00Z");
        assert!(before.same_as(&corrected_back));
    }

    #[test]
    fn a_boot_after_the_guest_was_seen_up_is_a_reboot() {
        let before = windows("2026-12-01T10:00:00Z", "2026-12-01T10:05:00Z");
        let rebooted = windows("2026-12-01T10:05:00.0000001Z", "2026-12-01T10:06:00Z");
        assert!(!before.same_as(&rebooted));
    }

    #[test]
    fn linux_boots_are_the_same_only_with_the_same_id() {
        let a = Boot::Id("a".into());
        assert!(a.same_as(&Boot::Id("a".into())));
        assert!(!a.same_as(&Boot::Id("b".into())));
    }
}

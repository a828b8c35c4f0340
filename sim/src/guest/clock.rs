//! The guest's clocks as a KVM guest keeps them. While the vCPUs are paused (by the user, or
//! by the migration monitor in a Paused migration) the guest's clocks stand still: QEMU stops
//! kvmclock when the VM stops and resumes it where it was (qemu hw/i386/kvm/clock.c
//! kvmclock_vm_state_change), so the monotonic clock and uptime skip the pause and the wall
//! clock falls behind by it. It catches up only when someone sets it: virt-launcher asks the
//! guest agent to, a second after unpausing the domain or finalizing a migration target,
//! retrying each second for a minute and at most once per virt-launcher (kubevirt v1.9.0
//! pkg/virt-launcher/virtwrap/manager.go setGuestTime, its callers UnpauseVMI and
//! live-migration-target.go finalizeMigrationTarget). A guest without the agent stays behind.
//!
//! The OS's boot time is its wall clock minus its uptime (Linux `btime`, Windows
//! `LastBootUpTime`), so it moves forward by the step when the clock is set: after a Paused
//! migration a Windows guest's LastBootUpTime is later by the pause, within the same boot.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct GuestClock {
    booted: Instant,
    /// The wall clock at boot.
    booted_at: DateTime<Utc>,
    /// When the vCPUs were paused, if they are.
    paused_since: Option<Instant>,
    /// Real time spent paused in earlier pauses: uptime did not count it.
    paused_for: Duration,
    /// How far the wall clock is behind: the pauses since it was last set.
    behind: Duration,
    /// The current virt-launcher already set the time (its `setTimeOnce`).
    set_by_launcher: bool,
}

impl GuestClock {
    pub fn boot() -> GuestClock {
        GuestClock {
            booted: Instant::now(),
            booted_at: Utc::now(),
            paused_since: None,
            paused_for: Duration::ZERO,
            behind: Duration::ZERO,
            set_by_launcher: false,
        }
    }

    pub fn pause(&mut self) {
        self.paused_since.get_or_insert_with(Instant::now);
    }

    pub fn resume(&mut self) {
        if let Some(since) = self.paused_since.take() {
            let pause = since.elapsed();
            self.paused_for += pause;
            self.behind += pause;
        }
    }

    /// Real time the guest ran: since boot, less the pauses (its monotonic clock).
    pub fn ran(&self) -> Duration {
        let now = self.paused_since.unwrap_or_else(Instant::now);
        now.saturating_duration_since(self.booted)
            .saturating_sub(self.paused_for)
    }

    /// The guest's wall clock now.
    pub fn now(&self) -> DateTime<Utc> {
        let current = self.paused_since.map_or(Duration::ZERO, |s| s.elapsed());
        Utc::now() - to_chrono(self.behind + current)
    }

    /// The boot time as the OS computes it: the wall clock minus the time it ran.
    pub fn boot_time(&self) -> DateTime<Utc> {
        self.booted_at + to_chrono(self.paused_for) - to_chrono(self.behind)
    }

    /// How far the wall clock is behind the host's.
    pub fn behind(&self) -> Duration {
        self.behind
    }

    /// A new virt-launcher runs the guest (a migration target): its `setTimeOnce` is unused.
    pub fn new_launcher(&mut self) {
        self.set_by_launcher = false;
    }

    /// virt-launcher's `setTimeOnce.Do`: true the first time per virt-launcher, false after.
    pub fn launcher_attempt(&mut self) -> bool {
        !std::mem::replace(&mut self.set_by_launcher, true)
    }

    /// The guest agent set the wall clock to the host's (qemu-ga guest-set-time).
    pub fn set_to_host(&mut self) {
        self.behind = Duration::ZERO;
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_leaves_the_clock_behind_until_it_is_set_which_moves_the_boot_time() {
        let mut c = GuestClock::boot();
        let boot = c.boot_time();
        let five = Duration::from_secs(5);
        // Booted ten seconds ago, paused five seconds ago (set directly: the test does not
        // wait for time to pass).
        c.booted -= 2 * five;
        c.paused_since = Some(Instant::now() - five);
        c.resume();
        assert!(c.behind() >= five);
        assert_eq!(c.boot_time(), boot, "a lagging clock keeps the boot time");
        assert!(c.ran() + five <= c.booted.elapsed());
        c.set_to_host();
        assert_eq!(c.behind(), Duration::ZERO);
        assert!(c.boot_time() - boot >= chrono::Duration::seconds(5));
        assert!(c.launcher_attempt(), "the launcher's first attempt");
        assert!(!c.launcher_attempt(), "once per virt-launcher");
        c.new_launcher();
        assert!(
            c.launcher_attempt(),
            "the target's virt-launcher tries again"
        );
    }
}

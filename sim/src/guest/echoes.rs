//! Echo requests sent over time: a ping of N echoes spaced by an interval takes that long in
//! the guest, and each echo is answered according to the network as it is when that echo
//! leaves, so a network that changes while the command runs shows in what it prints (some
//! echoes answered, some not). The waits run on the guest's scaled clock and block the
//! calling thread: a guest command runs on a blocking thread (see [`super::shell::run_async`]).

use std::net::IpAddr;
use std::time::Duration;

use super::sender::Sender;
use super::{lock, GuestRef, Network};

/// What one echo met when it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    Answered,
    /// Unanswered on an attached subnet: neighbour resolution failed, the kernel reports it
    /// from this own address.
    Unresolved(IpAddr),
    /// Unanswered off-link: simply lost.
    Lost,
}

/// Sends `count` echoes to `dst` (through `iface` only, when given), `interval` modelled
/// seconds apart, the first at once; what each met, in order.
pub fn send(
    guest: &GuestRef,
    net: &dyn Network,
    dst: IpAddr,
    iface: Option<&str>,
    count: u32,
    interval: f64,
) -> Vec<Echo> {
    let mut met = Vec::new();
    for seq in 1..=count {
        if seq > 1 {
            pass(guest, interval);
        }
        // A snapshot per echo, taken unlocked so the fabric can look at every guest.
        let sender = Sender::snapshot(guest);
        met.push(if sender.reaches(dst, iface, net) {
            Echo::Answered
        } else {
            sender
                .on_link(dst, iface)
                .map_or(Echo::Lost, Echo::Unresolved)
        });
    }
    met
}

/// Lets `modelled` seconds of the guest's time pass (real time ÷ its time scale).
pub fn pass(guest: &GuestRef, modelled: f64) {
    let scale = lock(guest).time_scale().max(f64::MIN_POSITIVE);
    if modelled.is_finite() && modelled > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(modelled / scale));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::{distro, testing};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Answers from the third question on: a network that heals while the echoes go out.
    struct HealsLater(AtomicU32);

    impl Network for HealsLater {
        fn reachable(&self, _: &crate::guest::Nic, _: IpAddr) -> bool {
            self.0.fetch_add(1, Ordering::SeqCst) >= 2
        }
        fn listener(&self, _: &crate::guest::Nic, _: IpAddr, _: u16) -> Option<String> {
            None
        }
        fn accepted(&self, _: &str) -> Vec<(std::net::SocketAddr, std::net::SocketAddr)> {
            Vec::new()
        }
    }

    #[test]
    fn each_echo_meets_the_network_as_it_is_when_it_leaves() {
        let g = testing::booted(&distro::RHEL_9, "vm", "eth0", "02:00:00:00:00:01");
        let net = HealsLater(AtomicU32::new(0));
        let peer: IpAddr = "10.0.2.9".parse().unwrap();
        let met = send(&g, &net, peer, None, 4, 0.001);
        let own: IpAddr = "10.0.2.2".parse().unwrap();
        let unresolved = Echo::Unresolved(own);
        assert_eq!(
            met,
            [unresolved, unresolved, Echo::Answered, Echo::Answered]
        );
    }
}

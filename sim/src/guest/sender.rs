//! A guest as a sender of packets: a snapshot of its NICs, pause state, boot and listening
//! ports, taken with the guest unlocked so the fabric can lock every guest while it looks for
//! a peer; and whom such a sender reaches.

use std::net::IpAddr;

use super::{lock, same_subnet, Guest, GuestRef, Network, Nic};

/// What a ping or a TCP client needs of the guest it runs in.
pub struct Sender {
    pub nics: Vec<Nic>,
    pub paused: bool,
    pub boot_id: String,
    /// TCP ports this guest listens on (for connections to itself).
    pub listening: Vec<u16>,
}

impl Sender {
    /// `guest` as a sender, with its lock released: the fabric locks every guest (this one
    /// included) while it looks for a peer, so the guard must not outlive this call.
    pub fn snapshot(guest: &GuestRef) -> Sender {
        let g = lock(guest);
        Sender::of(&g)
    }

    pub fn of(g: &Guest) -> Sender {
        Sender {
            nics: g.nics.clone(),
            paused: g.paused(),
            boot_id: g.boot_id.clone(),
            listening: g.listening_ports(),
        }
    }

    /// Whether `dst` is this guest itself (loopback or one of its addresses).
    pub fn is_own(&self, dst: IpAddr) -> bool {
        dst.is_loopback()
            || self
                .nics
                .iter()
                .any(|n| n.addrs.iter().any(|(a, _)| *a == dst))
    }

    /// Whether `dst` answers this sender (through `iface` only, when given).
    pub fn reaches(&self, dst: IpAddr, iface: Option<&str>, net: &dyn Network) -> bool {
        let own = self.is_own(dst);
        !self.paused
            && (own
                || self
                    .nics
                    .iter()
                    .filter(|n| iface.is_none_or(|i| i == n.name))
                    .any(|n| n.up && !n.misdirected && net.reachable(n, dst)))
    }

    /// This sender's own address on the subnet of `dst`, if `dst` is on a directly attached
    /// link: there an unanswered ping is an ARP/ND failure the kernel reports itself.
    pub fn on_link(&self, dst: IpAddr, iface: Option<&str>) -> Option<IpAddr> {
        self.nics
            .iter()
            .filter(|n| n.up && iface.is_none_or(|i| i == n.name))
            .flat_map(|n| n.addrs.iter())
            .find(|(own, len)| same_subnet(*own, dst, *len))
            .map(|(own, _)| *own)
    }

    /// The local address a connection to `dst`:`port` leaves from, and the accepting peer's
    /// boot id, if the peer accepts.
    pub fn accepted_by(
        &self,
        dst: IpAddr,
        port: u16,
        net: &dyn Network,
    ) -> Option<(IpAddr, String)> {
        if self.paused {
            return None;
        }
        if self.is_own(dst) {
            return self
                .listening
                .contains(&port)
                .then(|| (dst, self.boot_id.clone()));
        }
        self.nics
            .iter()
            .filter(|n| n.up && !n.misdirected)
            .find_map(|n| {
                let boot = net.listener(n, dst, port)?;
                let local = n
                    .addrs
                    .iter()
                    .find(|(a, _)| a.is_ipv4() == dst.is_ipv4())?
                    .0;
                Some((local, boot))
            })
    }

    /// What the peer accepting `dst`:`port` writes first to this sender's connection.
    pub fn greeting(&self, dst: IpAddr, port: u16, net: &dyn Network) -> String {
        self.nics
            .iter()
            .filter(|n| n.up && !n.misdirected)
            .find(|n| net.listener(n, dst, port).is_some())
            .map(|n| net.served(n, dst, port))
            .unwrap_or_default()
    }
}

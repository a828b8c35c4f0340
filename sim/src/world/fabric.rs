//! Who reaches whom. A guest NIC sits on a segment (the pod network, or the physical network
//! and VLAN its NAD gives it on its node: see `attach`);
//! a packet gets an answer when a running, unpaused guest with its link up holds the
//! destination address on the same segment, and (off the pod network, which routes) shares
//! a subnet with the sender. Around a migration's switchover, a NIC on an uplinked segment
//! follows its [`super::handover::Handover`]: when its frames get out, and from which node a
//! peer's frames reach it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::guest::{lock, Guests, Network, Nic};

pub const POD_SEGMENT: &str = "pod";

pub struct Fabric {
    guests: Arc<Guests>,
}

impl Fabric {
    pub fn new(guests: Arc<Guests>) -> Fabric {
        Fabric { guests }
    }
}

fn same_subnet(from: &Nic, to: IpAddr) -> bool {
    from.addrs
        .iter()
        .any(|(a, len)| crate::guest::same_subnet(*a, to, *len))
}

impl Nic {
    fn on(&self, segment: &str) -> bool {
        self.segment == segment || self.stale() == Some(segment)
    }

    fn segments(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.segment.as_str()).chain(self.stale())
    }

    /// The old segment it still (or again) bridges into, from the moment it does.
    fn stale(&self) -> Option<&str> {
        let now = std::time::Instant::now();
        let joined = self.stale_from.is_none_or(|f| f.on_at(now));
        self.stale_segment.as_deref().filter(|_| joined)
    }
}

impl Fabric {
    /// The boot id of the running guest that answers `from` at `to` (and listens on `port`,
    /// when given).
    fn answering(&self, from: &Nic, to: IpAddr, port: Option<u16>) -> Option<String> {
        // The pod network and user-defined networks route; secondary L2 segments do not.
        let routed = from.segment == POD_SEGMENT || from.segment.starts_with("udn:");
        if !routed && !same_subnet(from, to) {
            return None;
        }
        let now = std::time::Instant::now();
        // A migrating sender's frame may not get out (paused, port disabled): handover.rs.
        if from.handover.as_ref().is_some_and(|h| !h.sends(now)) {
            return None;
        }
        let from_node = from
            .handover
            .as_ref()
            .map_or(from.node.as_str(), |h| h.node_at(now));
        self.guests.all().iter().find_map(|g| {
            // Commands release their own guest before they ask the fabric.
            let g = lock(g);
            let holds = g.nics.iter().any(|n| {
                n.up && !n.misdirected
                    && from.segments().any(|s| n.on(s))
                    && n.reachable_at.contains(&to)
                    && n.handover
                        .as_ref()
                        .is_none_or(|h| h.reaches_guest(from_node, now))
            });
            let listens = port.is_none_or(|p| g.listening_ports().contains(&p));
            (g.up && !g.paused() && holds && listens).then(|| g.boot_id.clone())
        })
    }
}

impl Network for Fabric {
    fn detached(&self) -> Option<Box<dyn Network>> {
        Some(Box::new(Fabric::new(self.guests.clone())))
    }

    fn reachable(&self, from: &Nic, to: IpAddr) -> bool {
        self.answering(from, to, None).is_some()
    }

    fn listener(&self, from: &Nic, to: IpAddr, port: u16) -> Option<String> {
        self.answering(from, to, Some(port))
    }

    fn accepted(&self, boot_id: &str) -> Vec<(SocketAddr, SocketAddr)> {
        // Each client is asked on its own, without any guest locked: a client's check locks
        // the server.
        let clients: Vec<_> = self
            .guests
            .all()
            .into_iter()
            .filter(|g| {
                let g = lock(g);
                g.boot_id != boot_id && g.connections.iter().any(|c| c.peer_boot == boot_id)
            })
            .collect();
        let mut accepted = Vec::new();
        for client in clients {
            let to_us: Vec<(SocketAddr, SocketAddr)> = {
                let g = lock(&client);
                g.connections
                    .iter()
                    .filter(|c| c.peer_boot == boot_id)
                    .map(|c| (c.local, c.peer))
                    .collect()
            };
            let holding = crate::guest::tcp::holding(&client, self);
            accepted.extend(
                to_us
                    .into_iter()
                    .filter(|c| holding.contains(c))
                    .map(|(local, peer)| (peer, local)),
            );
        }
        accepted
    }
}

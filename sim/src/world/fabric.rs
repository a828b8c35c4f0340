//! Who reaches whom. A guest NIC sits on a segment (the pod network, or the physical network
//! and VLAN its NAD gives it on its node: see `attach`);
//! a packet gets an answer when a running, unpaused guest with its link up holds the
//! destination address on the same segment, and (off the pod network, which routes) shares
//! a subnet with the sender. A NIC behind OVN port security sends only from the addresses its
//! port allows and answers only at them; the host outside the cluster answers what reaches
//! it through a node's egress (see `external`). Around a migration's switchover, a NIC on an
//! uplinked segment follows its [`super::handover::Handover`]: when its frames get out, and
//! from which node a peer's frames reach it.

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
        if !allowed_out(from) {
            return None;
        }
        if let Some(answer) = super::external::answers(from, to, port) {
            return answer;
        }
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
                    && owns(n, to)
                    && n.handover
                        .as_ref()
                        .is_none_or(|h| h.reaches_guest(from_node, now))
            });
            let listens = port.is_none_or(|p| g.listening_ports().contains(&p));
            (g.up && !g.paused() && holds && listens).then(|| g.boot_id.clone())
        })
    }
}

/// OVN drops what a port-secured NIC sends from an address its port does not allow (the
/// `port_security` column: ovn-northd's `ls_in_port_sec_ip` stage). The guest sends from its
/// own configured address.
fn allowed_out(from: &Nic) -> bool {
    from.port_security
        .as_ref()
        .is_none_or(|allowed| from.addrs.iter().any(|(a, _)| allowed.contains(a)))
}

/// A port-secured NIC is bridged: the guest itself must hold `to` to answer for it (its ARP
/// reply), and OVN lets nothing else reach it.
fn owns(n: &Nic, to: IpAddr) -> bool {
    n.port_security
        .as_ref()
        .is_none_or(|allowed| allowed.contains(&to) && n.addrs.iter().any(|(a, _)| *a == to))
}

impl Network for Fabric {
    fn served(&self, from: &Nic, to: IpAddr, port: u16) -> String {
        super::external::greeting(from, to, port)
    }

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::guest::{distro, BootSpec, Guest};

    const NODE: &str = "192.168.111.21";

    /// A NIC bridged onto a primary UDN: the guest holds `own`, OVN allocated `allocated`.
    fn udn_nic(own: &str, allocated: &str) -> Nic {
        let allocated: IpAddr = allocated.parse().unwrap();
        Nic {
            name: "eth0".into(),
            network: "default".into(),
            mac: "02:00:00:00:00:01".into(),
            addrs: vec![(own.parse().unwrap(), 16)],
            segment: "udn:ns1_tenant".into(),
            stale_segment: None,
            stale_from: None,
            reachable_at: vec![allocated],
            port_security: Some(vec![allocated]),
            egress: Some(NODE.parse().unwrap()),
            up: true,
            misdirected: false,
            node: "worker-0".into(),
            handover: None,
        }
    }

    fn running(guests: &Guests, uid: &str, nic: Nic) {
        let spec = BootSpec {
            distro: &distro::RHEL_9,
            hostname: uid.into(),
            vcpus: 1,
            memory_bytes: 1 << 30,
            nics: vec![nic],
            users: BTreeMap::new(),
            image: Default::default(),
        };
        let mut guest = Guest::boot(spec, 1.0);
        guest.up = true;
        guests.insert(uid, guest);
    }

    #[test]
    fn a_guest_whose_address_is_not_its_ports_neither_sends_nor_is_reached() {
        let guests = Arc::new(Guests::default());
        running(&guests, "peer", udn_nic("10.100.0.3", "10.100.0.3"));
        running(&guests, "agrees", udn_nic("10.100.0.200", "10.100.0.200"));
        running(&guests, "differs", udn_nic("10.100.0.201", "10.100.0.4"));
        let fabric = Fabric::new(guests);
        let peer = udn_nic("10.100.0.3", "10.100.0.3");
        assert!(fabric.reachable(&peer, "10.100.0.200".parse().unwrap()));
        // OVN sends to the allocated address; the guest does not answer for it.
        assert!(!fabric.reachable(&peer, "10.100.0.4".parse().unwrap()));
        assert!(!fabric.reachable(&peer, "10.100.0.201".parse().unwrap()));
        // What it sends from its own address is dropped at its port.
        let differs = udn_nic("10.100.0.201", "10.100.0.4");
        assert!(!fabric.reachable(&differs, "10.100.0.3".parse().unwrap()));
    }

    #[test]
    fn the_external_host_sees_the_node_address_through_egress_only() {
        let fabric = Fabric::new(Arc::new(Guests::default()));
        let vm = udn_nic("10.100.0.200", "10.100.0.200");
        let host = crate::world::external::ADDRESS;
        let port = crate::world::external::PORT;
        assert!(fabric.reachable(&vm, host));
        assert!(fabric.listener(&vm, host, port).is_some());
        assert!(fabric.listener(&vm, host, 22).is_none());
        assert_eq!(fabric.served(&vm, host, port), format!("{NODE}\n"));
        let secondary = Nic {
            segment: "br-vstp/10".into(),
            egress: None,
            port_security: None,
            ..vm
        };
        assert!(!fabric.reachable(&secondary, host));
    }
}

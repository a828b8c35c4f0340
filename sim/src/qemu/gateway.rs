//! What answers in the real guests' fabric besides the guests: on a primary layer2 UDN, OVN's
//! router-type switch port (its `arp_proxy` answers ARP for the gateway a DHCP lease names,
//! ovn-kubernetes kubevirt `ComposeARPProxyLSPOption`, and routes out of the cluster) and
//! OVN's native DHCP (dhcp.rs); beyond the gateway, the one host outside the
//! cluster (world/external.rs), which answers a TCP connection with the client address it sees
//! (the node's, after egress SNAT) and closes it.
//!
//! The host's TCP is the least that serves `cat </dev/tcp/HOST/PORT`: each segment is answered
//! from itself alone (no connection state), and a lost answer is repeated when the client
//! repeats its segment.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use etherparse::{
    ArpEthIpv4Packet, ArpOperation, LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TcpSlice,
    TransportSlice,
};

use super::dhcp::{self, Lease, Leases};

/// What the host outside writes to a connection from the NIC with a MAC to an address and
/// port, when that connection reaches it (None: it never arrives, as traffic that no egress
/// carries out).
pub type Outside = dyn Fn(&str, IpAddr, u16) -> Option<String> + Send + Sync;

/// The answering parts of the fabric, set once when the world starts.
pub struct Services {
    pub leases: Arc<Leases>,
    pub outside: Arc<Outside>,
}

/// The host's initial sequence number (any will do: nothing else shares the connection).
const ISN: u32 = 0x5eed_0000;
const WINDOW: u16 = 64240;

/// What the services made of a frame: their answers, sent back to its port, and whether the
/// frame was theirs alone (a DHCP request, or anything for the gateway's MAC), so that no
/// guest port gets it.
#[derive(Debug, Default)]
pub struct Served {
    pub answers: Vec<Vec<u8>>,
    pub consumed: bool,
}

impl Services {
    /// The services' part in `frame` from the NIC with `mac`; nothing when it is not theirs
    /// (the frame is then switched as usual).
    pub fn serve(&self, mac: &str, frame: &[u8]) -> Served {
        if let Some(reply) = dhcp::answer(frame, self.leases.as_ref()) {
            return Served {
                answers: vec![reply],
                consumed: true,
            };
        }
        let (Some(lease), Ok(packet)) = ((self.leases)(mac), SlicedPacket::from_ethernet(frame))
        else {
            return Served::default();
        };
        let router = routed_by(&packet, lease);
        let answers = match (&packet.net, &packet.transport, router) {
            (Some(NetSlice::Arp(arp)), _, _) => {
                arp_reply(&arp.to_packet(), lease).into_iter().collect()
            }
            (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(tcp)), Some(router)) => {
                let to = IpAddr::V4(ip.header().destination_addr());
                let client = (source_mac(&packet), ip.header().source_addr());
                match (self.outside)(mac, to, tcp.destination_port()) {
                    Some(greeting) => tcp_answer(tcp, router, client, to, &greeting),
                    None => Vec::new(),
                }
            }
            _ => Vec::new(),
        };
        Served {
            answers,
            consumed: router.is_some(),
        }
    }
}

fn source_mac(packet: &SlicedPacket<'_>) -> [u8; 6] {
    match &packet.link {
        Some(LinkSlice::Ethernet2(eth)) => eth.source(),
        _ => [0; 6],
    }
}

/// The addresses the network's routing answers at: the ARP proxy (the DHCP lease's router)
/// and the layer2 network's gateway router port, the subnet's first address (ovn-kubernetes
/// util.GetNodeGatewayIfAddr), which a statically configured guest names. Each has the MAC
/// util.IPAddrToHWAddr gives it.
fn gateways(lease: Lease) -> [Ipv4Addr; 2] {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(lease.prefix.min(32)))
        .unwrap_or(0);
    let first = Ipv4Addr::from((u32::from(lease.address) & mask) + 1);
    [lease.router, first]
}

/// The gateway address whose MAC the frame is sent to, if any.
fn routed_by(packet: &SlicedPacket<'_>, lease: Lease) -> Option<Ipv4Addr> {
    let Some(LinkSlice::Ethernet2(eth)) = &packet.link else {
        return None;
    };
    let to = eth.destination();
    gateways(lease)
        .into_iter()
        .find(|g| dhcp::router_mac(*g) == to)
}

/// The gateways' answer to an ARP request for one of their addresses.
fn arp_reply(request: &etherparse::ArpPacket, lease: Lease) -> Option<Vec<u8>> {
    let asked = ArpEthIpv4Packet::try_from(request.clone()).ok()?;
    let target = asked.target_ipv4_addr();
    if asked.operation != ArpOperation::REQUEST || !gateways(lease).contains(&target) {
        return None;
    }
    let router = dhcp::router_mac(target);
    let reply = ArpEthIpv4Packet {
        operation: ArpOperation::REPLY,
        sender_mac: router,
        sender_ipv4: target.octets(),
        target_mac: asked.sender_mac,
        target_ipv4: asked.sender_ipv4,
    };
    let builder = PacketBuilder::ethernet2(router, asked.sender_mac).arp(reply.into());
    let mut frame = Vec::with_capacity(builder.size());
    builder.write(&mut frame).ok()?;
    Some(frame)
}

/// The host's side of the connection, from the client's segment alone: a SYN gets a SYN-ACK;
/// the ACK of it gets the greeting with FIN; the client's FIN gets its ACK.
fn tcp_answer(
    tcp: &TcpSlice<'_>,
    router: Ipv4Addr,
    (client_mac, client): ([u8; 6], Ipv4Addr),
    host: IpAddr,
    greeting: &str,
) -> Vec<Vec<u8>> {
    let IpAddr::V4(host) = host else {
        return Vec::new();
    };
    let seq = tcp.sequence_number();
    let after = |len: usize| seq.wrapping_add(len as u32);
    let data_len = tcp.payload().len();
    let sent_all = ISN.wrapping_add(1 + greeting.len() as u32 + 1);
    let (ours, flags, payload): (u32, (bool, bool), &[u8]) = if tcp.syn() {
        (ISN, (true, false), &[])
    } else if tcp.fin() {
        (sent_all, (false, false), &[])
    } else if tcp.ack() && tcp.acknowledgment_number() == ISN.wrapping_add(1) {
        (ISN.wrapping_add(1), (false, true), greeting.as_bytes())
    } else {
        return Vec::new();
    };
    let acked = match (tcp.syn(), tcp.fin()) {
        (true, _) | (_, true) => after(data_len + 1),
        _ => after(data_len),
    };
    let frame = segment(
        (router, client_mac, client, host),
        (tcp.destination_port(), tcp.source_port()),
        (ours, acked),
        flags,
        payload,
    );
    frame.into_iter().collect()
}

/// One segment from the host to the client, through the gateway: `flags` are (SYN, PSH+FIN).
fn segment(
    (router, client_mac, client, host): (Ipv4Addr, [u8; 6], Ipv4Addr, Ipv4Addr),
    (from_port, to_port): (u16, u16),
    (seq, ack): (u32, u32),
    (syn, push_fin): (bool, bool),
    payload: &[u8],
) -> Option<Vec<u8>> {
    let mut builder = PacketBuilder::ethernet2(dhcp::router_mac(router), client_mac)
        .ipv4(host.octets(), client.octets(), 64)
        .tcp(from_port, to_port, seq, WINDOW)
        .ack(ack);
    if syn {
        builder = builder.syn();
    }
    if push_fin {
        builder = builder.psh().fin();
    }
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).ok()?;
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 100, 0, 3);
    const ROUTER: Ipv4Addr = dhcp::ARP_PROXY;
    const HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

    fn services() -> Services {
        let lease = Lease {
            address: ADDRESS,
            prefix: 16,
            router: ROUTER,
        };
        Services {
            leases: Arc::new(move |mac: &str| (mac == "02:00:00:00:00:01").then_some(lease)),
            outside: Arc::new(|_: &str, to: IpAddr, port: u16| {
                (to == IpAddr::V4(HOST) && port == 8080).then(|| "192.168.10.11\n".to_string())
            }),
        }
    }

    fn arp_request(target: Ipv4Addr) -> Vec<u8> {
        let request = ArpEthIpv4Packet {
            operation: ArpOperation::REQUEST,
            sender_mac: GUEST,
            sender_ipv4: ADDRESS.octets(),
            target_mac: [0; 6],
            target_ipv4: target.octets(),
        };
        let builder = PacketBuilder::ethernet2(GUEST, [0xff; 6]).arp(request.into());
        let mut frame = Vec::new();
        builder.write(&mut frame).unwrap();
        frame
    }

    /// A segment from the guest to `port` of the host, through the gateway's MAC.
    fn from_guest(port: u16, (seq, ack): (u32, Option<u32>), syn: bool, fin: bool) -> Vec<u8> {
        let mut builder = PacketBuilder::ethernet2(GUEST, dhcp::router_mac(ROUTER))
            .ipv4(ADDRESS.octets(), HOST.octets(), 64)
            .tcp(40000, port, seq, WINDOW);
        if let Some(ack) = ack {
            builder = builder.ack(ack);
        }
        if syn {
            builder = builder.syn();
        }
        if fin {
            builder = builder.fin();
        }
        let mut frame = Vec::new();
        builder.write(&mut frame, &[]).unwrap();
        frame
    }

    /// (SYN, FIN, seq, ack, payload) of the one TCP answer.
    fn tcp_of(answers: &[Vec<u8>]) -> (bool, bool, u32, u32, Vec<u8>) {
        assert_eq!(answers.len(), 1, "{answers:?}");
        let packet = SlicedPacket::from_ethernet(&answers[0]).unwrap();
        let Some(TransportSlice::Tcp(tcp)) = packet.transport else {
            panic!("not TCP");
        };
        assert_eq!(&answers[0][..6], &GUEST);
        let (syn, fin) = (tcp.syn(), tcp.fin());
        let (seq, ack) = (tcp.sequence_number(), tcp.acknowledgment_number());
        (syn, fin, seq, ack, tcp.payload().to_vec())
    }

    #[test]
    fn the_gateways_answer_arp_for_their_addresses_only() {
        let s = services();
        let reply = s.serve("02:00:00:00:00:01", &arp_request(ROUTER)).answers;
        let packet = SlicedPacket::from_ethernet(&reply[0]).unwrap();
        let Some(NetSlice::Arp(arp)) = packet.net else {
            panic!("not ARP");
        };
        let arp = ArpEthIpv4Packet::try_from(arp.to_packet()).unwrap();
        assert_eq!(arp.operation, ArpOperation::REPLY);
        assert_eq!(arp.sender_mac, dhcp::router_mac(ROUTER));
        assert_eq!(arp.target_mac, GUEST);
        // The layer2 network's gateway router port, the subnet's first address, answers too.
        let first = Ipv4Addr::new(10, 100, 0, 1);
        let reply = s.serve("02:00:00:00:00:01", &arp_request(first)).answers;
        let packet = SlicedPacket::from_ethernet(&reply[0]).unwrap();
        let Some(NetSlice::Arp(arp)) = packet.net else {
            panic!("not ARP");
        };
        let arp = ArpEthIpv4Packet::try_from(arp.to_packet()).unwrap();
        assert_eq!(arp.sender_mac, dhcp::router_mac(first));
        let other = Ipv4Addr::new(10, 100, 0, 9);
        let served = |mac, frame: &[u8]| s.serve(mac, frame).answers;
        assert!(served("02:00:00:00:00:01", &arp_request(other)).is_empty());
        assert!(served("02:00:00:00:00:09", &arp_request(ROUTER)).is_empty());
    }

    #[test]
    fn the_host_outside_says_what_it_sees_then_closes() {
        let s = services();
        let mac = "02:00:00:00:00:01";
        let syn = from_guest(8080, (100, None), true, false);
        let served = s.serve(mac, &syn);
        assert!(served.consumed);
        let (is_syn, _, seq, ack, _) = tcp_of(&served.answers);
        assert!(is_syn);
        assert_eq!((seq, ack), (ISN, 101));
        let acked = from_guest(8080, (101, Some(ISN + 1)), false, false);
        let (_, fin, seq, ack, payload) = tcp_of(&s.serve(mac, &acked).answers);
        assert!(fin);
        assert_eq!((seq, ack), (ISN + 1, 101));
        assert_eq!(payload, b"192.168.10.11\n");
        let closing = from_guest(8080, (101, Some(ISN + 16)), false, true);
        let (_, _, seq, ack, _) = tcp_of(&s.serve(mac, &closing).answers);
        assert_eq!((seq, ack), (ISN + 16, 102));
    }

    #[test]
    fn a_port_the_host_does_not_serve_gets_no_answer() {
        let s = services();
        let syn = from_guest(9999, (100, None), true, false);
        assert!(s.serve("02:00:00:00:00:01", &syn).answers.is_empty());
    }
}

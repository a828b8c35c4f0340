//! OVN's native DHCPv4 on the real guests' fabric: a guest bridged onto a primary layer2 UDN
//! asks DHCP for its address, and its logical switch port answers with the address
//! OVN-Kubernetes allocated (ovn-kubernetes go-controller/pkg/kubevirt/dhcp.go
//! `ComposeDHCPv4Options`: `lease_time` 3500, `router` and `server_id` the ARP proxy's
//! link-local address [`ARP_PROXY`], `server_mac` its MAC). The request never reaches other
//! ports: OVN answers it in the switch.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

/// What a port's DHCP gets: its address and prefix, and the gateway (on a UDN, [`ARP_PROXY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub router: Ipv4Addr,
}

/// The lease of the NIC with a MAC, when its switch port answers DHCP.
pub type Leases = dyn Fn(&str) -> Option<Lease> + Send + Sync;

/// ovn-kubernetes go-controller/pkg/kubevirt (`ARPProxyIPv4`): the link-local address every
/// KubeVirt VM has as its default gateway, answered by the `arp_proxy` option of the
/// network's router-type switch port, so that the gateway stays the same wherever the VM
/// migrates.
pub const ARP_PROXY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// ovn-kubernetes dhcp.go: the lease OVN offers, in seconds.
const LEASE_SECS: u32 = 3500;
const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;

/// The answer to `frame` when it is a DHCPv4 client message from a port with a lease: an
/// offer for a discover, an ack (or a nak, for another address) for a request; `None` for
/// any other frame.
pub fn answer(frame: &[u8], leases: &Leases) -> Option<Vec<u8>> {
    let packet = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Ipv4(_)) = packet.net else {
        return None;
    };
    let Some(TransportSlice::Udp(udp)) = packet.transport else {
        return None;
    };
    if udp.destination_port() != SERVER_PORT {
        return None;
    }
    let request = Message::from_bytes(udp.payload()).ok()?;
    let client: [u8; 6] = request.chaddr().get(..6)?.try_into().ok()?;
    let lease = leases(&mac_text(client))?;
    let kind = match request.opts().msg_type()? {
        MessageType::Discover => MessageType::Offer,
        MessageType::Request if asks_for(&request).is_none_or(|a| a == lease.address) => {
            MessageType::Ack
        }
        MessageType::Request => MessageType::Nak,
        _ => return None,
    };
    let reply = reply(&request, lease, kind).to_vec().ok()?;
    frame_to(client, &request, lease, kind, &reply)
}

/// The address a request asks for: its option, or the one it renews.
fn asks_for(request: &Message) -> Option<Ipv4Addr> {
    match request.opts().get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(address)) => Some(*address),
        _ => Some(request.ciaddr()).filter(|a| !a.is_unspecified()),
    }
}

fn reply(request: &Message, lease: Lease, kind: MessageType) -> Message {
    let given = match kind {
        MessageType::Nak => Ipv4Addr::UNSPECIFIED,
        _ => lease.address,
    };
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let mut reply = Message::new_with_id(
        request.xid(),
        unspecified,
        given,
        lease.router,
        request.giaddr(),
        &request.chaddr()[..6],
    );
    reply
        .set_opcode(Opcode::BootReply)
        .set_flags(request.flags());
    let opts = reply.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    opts.insert(DhcpOption::ServerIdentifier(lease.router));
    if kind != MessageType::Nak {
        opts.insert(DhcpOption::AddressLeaseTime(LEASE_SECS));
        opts.insert(DhcpOption::SubnetMask(mask(lease.prefix)));
        opts.insert(DhcpOption::Router(vec![lease.router]));
    }
    reply
}

/// The Ethernet frame carrying `reply` from the gateway to the client: to its address, or
/// broadcast when the client asked for it (or has none yet to be sent to, on a nak).
fn frame_to(
    client: [u8; 6],
    request: &Message,
    lease: Lease,
    kind: MessageType,
    reply: &[u8],
) -> Option<Vec<u8>> {
    let broadcast = request.flags().broadcast() || kind == MessageType::Nak;
    let to = match broadcast {
        true => Ipv4Addr::BROADCAST,
        false => lease.address,
    };
    let builder = PacketBuilder::ethernet2(router_mac(lease.router), client)
        .ipv4(lease.router.octets(), to.octets(), 64)
        .udp(SERVER_PORT, CLIENT_PORT);
    let mut frame = Vec::with_capacity(builder.size(reply.len()));
    builder.write(&mut frame, reply).ok()?;
    Some(frame)
}

/// ovn-kubernetes util.IPAddrToHWAddr: 0a:58 and the IPv4 address (`ARPProxyMAC` is this of
/// [`ARP_PROXY`]).
pub fn router_mac(router: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = router.octets();
    [0x0a, 0x58, a, b, c, d]
}

fn mask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    )
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v4::Flags;

    const CLIENT: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

    fn lease() -> Lease {
        Lease {
            address: Ipv4Addr::new(10, 100, 0, 3),
            prefix: 16,
            router: Ipv4Addr::new(10, 100, 0, 1),
        }
    }

    fn leases(mac: &str) -> Option<Lease> {
        (mac == "02:00:00:00:00:01").then(lease)
    }

    /// A client's message as udhcpc sends it: broadcast, from 0.0.0.0.
    fn client_frame(from: [u8; 6], kind: MessageType, asks: Option<Ipv4Addr>) -> Vec<u8> {
        let unspecified = Ipv4Addr::UNSPECIFIED;
        let mut message =
            Message::new_with_id(7, unspecified, unspecified, unspecified, unspecified, &from);
        message.set_flags(Flags::default().set_broadcast());
        message.opts_mut().insert(DhcpOption::MessageType(kind));
        if let Some(address) = asks {
            message
                .opts_mut()
                .insert(DhcpOption::RequestedIpAddress(address));
        }
        let payload = message.to_vec().unwrap();
        let builder = PacketBuilder::ethernet2(from, [0xff; 6])
            .ipv4([0; 4], [255; 4], 64)
            .udp(CLIENT_PORT, SERVER_PORT);
        let mut frame = Vec::new();
        builder.write(&mut frame, &payload).unwrap();
        frame
    }

    fn answered(frame: &[u8]) -> (Message, [u8; 6]) {
        let reply = answer(frame, &leases).expect("an answer");
        let packet = SlicedPacket::from_ethernet(&reply).unwrap();
        let Some(TransportSlice::Udp(udp)) = packet.transport else {
            panic!("not UDP: {reply:?}");
        };
        assert_eq!(
            (udp.source_port(), udp.destination_port()),
            (SERVER_PORT, CLIENT_PORT)
        );
        let to: [u8; 6] = reply[..6].try_into().unwrap();
        (Message::from_bytes(udp.payload()).unwrap(), to)
    }

    #[test]
    fn a_discover_is_offered_the_allocated_address_with_the_gateway_as_router() {
        let (offer, to) = answered(&client_frame(CLIENT, MessageType::Discover, None));
        assert_eq!(to, CLIENT);
        assert_eq!(offer.opts().msg_type(), Some(MessageType::Offer));
        assert_eq!(offer.yiaddr(), lease().address);
        assert_eq!(offer.xid(), 7);
        assert_eq!(
            offer.opts().get(OptionCode::SubnetMask),
            Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 0, 0)))
        );
        assert_eq!(
            offer.opts().get(OptionCode::Router),
            Some(&DhcpOption::Router(vec![lease().router]))
        );
    }

    #[test]
    fn a_request_for_the_lease_is_acked_and_one_for_another_address_is_refused() {
        let asked = client_frame(CLIENT, MessageType::Request, Some(lease().address));
        assert_eq!(answered(&asked).0.opts().msg_type(), Some(MessageType::Ack));
        let other = Some(Ipv4Addr::new(10, 100, 0, 200));
        let refused = answered(&client_frame(CLIENT, MessageType::Request, other)).0;
        assert_eq!(refused.opts().msg_type(), Some(MessageType::Nak));
        assert_eq!(refused.yiaddr(), Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn a_port_without_a_lease_and_frames_that_are_not_dhcp_get_no_answer() {
        let stranger = [0x02, 0, 0, 0, 0, 0x09];
        let frame = client_frame(stranger, MessageType::Discover, None);
        assert_eq!(answer(&frame, &leases), None);
        let mut not_dhcp = client_frame(CLIENT, MessageType::Discover, None);
        // The UDP destination port (Ethernet 14 + IPv4 20 + 2) is no longer the server's.
        not_dhcp[37] = 53;
        assert_eq!(answer(&not_dhcp, &leases), None);
    }
}

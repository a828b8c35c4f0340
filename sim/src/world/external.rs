//! One host outside the cluster, on the network the nodes' egress leads to: a service that
//! answers every TCP connection with the client address it sees (what `ncat -lk PORT -c 'echo
//! $NCAT_REMOTE_ADDR'` does on a real lab host), and echo requests. A guest reaches it only
//! through its node's egress, so what it sees is the address the node translated the guest's
//! traffic to, never the guest's own.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::guest::Nic;

/// Where the host is: an address of TEST-NET-2 (RFC 5737), routed by no cluster network.
pub const ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
/// The port its service listens on.
pub const PORT: u16 = 8080;
/// Stands for the host where the fabric names the accepting guest's boot.
pub const BOOT: &str = "external-host";

/// The host and its service, as the harness is told about it (`network.external_host`).
pub fn service() -> SocketAddr {
    SocketAddr::new(ADDRESS, PORT)
}

/// Whether a packet from `from` to `to` (`port`, for TCP) is this host's to answer, and then
/// whether it answers: only what leaves through a node's egress gets there, and only its
/// service port accepts. None when `to` is not this host.
pub fn answers(from: &Nic, to: IpAddr, port: Option<u16>) -> Option<Option<String>> {
    if to != ADDRESS {
        return None;
    }
    let reached = from.egress.is_some() && port.is_none_or(|p| p == PORT);
    Some(reached.then(|| BOOT.to_string()))
}

/// What the service writes to a connection from `from`: the source address it sees.
pub fn greeting(from: &Nic, to: IpAddr, port: u16) -> String {
    match from.egress {
        Some(source) if to == ADDRESS && port == PORT => format!("{source}\n"),
        _ => String::new(),
    }
}

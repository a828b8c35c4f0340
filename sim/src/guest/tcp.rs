//! TCP as a guest sees it, through nmap-ncat (RHEL's `nc`) and `ss`: listeners, clients that
//! keep a connection open, `-z` probes. A connection holds while its client process runs, the
//! fabric still carries packets to the peer address, and the same boot of the peer guest
//! still listens. So it survives a migration that keeps addresses, and breaks when the peer
//! reboots, moves to another network or its address changes. Only the client side is listed.

use std::net::{IpAddr, SocketAddr};

use super::command::Output;
use super::sender::Sender;
use super::{lock, Connection, GuestRef, Network};

/// `ncat -z [-w N] host port`: silent, exit 0 when something accepts, 1 otherwise.
pub fn probe(guest: &GuestRef, dst: IpAddr, port: u16, net: &dyn Network) -> Output {
    let sender = Sender::snapshot(guest);
    match sender.accepted_by(dst, port, net) {
        Some(_) => Output::ok(""),
        None => Output::fail(1, ""),
    }
}

/// `ncat host port &`: the client runs while its connection is open; refused, it exits at once.
pub fn connect(guest: &GuestRef, line: &str, dst: IpAddr, port: u16, net: &dyn Network) -> u32 {
    let accepted = Sender::snapshot(guest).accepted_by(dst, port, net);
    let g = &mut lock(guest);
    let pid = g.spawn(line, None);
    match accepted {
        Some((local, peer_boot)) => g.connections.push(Connection {
            pid,
            local: SocketAddr::new(local, 32768 + (pid % 28000) as u16),
            peer: SocketAddr::new(dst, port),
            peer_boot,
        }),
        None => {
            g.processes.remove(&pid);
        }
    }
    pid
}

/// The connections `guest` opened that still hold: its client runs and the same peer boot
/// still accepts. (local, peer).
pub fn holding(guest: &GuestRef, net: &dyn Network) -> Vec<(SocketAddr, SocketAddr)> {
    let (sender, connections) = {
        let g = lock(guest);
        let alive: Vec<Connection> = g
            .connections
            .iter()
            .filter(|c| g.processes.contains_key(&c.pid))
            .cloned()
            .collect();
        (Sender::of(&g), alive)
    };
    connections
        .iter()
        .filter(|c| {
            sender
                .accepted_by(c.peer.ip(), c.peer.port(), net)
                .is_some_and(|(_, boot)| boot == c.peer_boot)
        })
        .map(|c| (c.local, c.peer))
        .collect()
}

/// `ss -Htn state established`: the connections that still hold, the ones this guest opened
/// and the ones its listeners accepted, in ss's columns.
pub fn established(guest: &GuestRef, net: &dyn Network) -> Output {
    let boot_id = lock(guest).boot_id.clone();
    let mut all = holding(guest, net);
    all.extend(net.accepted(&boot_id));
    let holding: Vec<(String, String)> = all
        .iter()
        .map(|(local, peer)| (local.to_string(), peer.to_string()))
        .collect();
    let local_width = holding.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let peer_width = holding.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
    let rows: String = holding
        .iter()
        .map(|(l, p)| format!("{:<7}{:<7}{l:<local_width$} {p:<peer_width$}\n", 0, 0))
        .collect();
    Output::ok(rows)
}

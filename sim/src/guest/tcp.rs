//! TCP as a guest sees it, through connect() (bash's `/dev/tcp`, nmap-ncat when installed)
//! and `ss`: listeners, clients that keep a connection open, probes. A connection holds while its client process runs, the
//! fabric still carries packets to the peer address, and the same boot of the peer guest
//! still listens. So it survives a migration that keeps addresses, and breaks when the peer
//! reboots, moves to another network or its address changes. Only the client side is listed.

use std::net::{IpAddr, SocketAddr};

use super::command::Output;
use super::sender::Sender;
use super::{lock, Connection, GuestRef, Network};

/// Why connect() failed, as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// The host answered with a reset: nothing listens there.
    Refused,
    /// An address on an attached link that no one answers ARP/ND for.
    NoRoute,
    /// Nothing answered the SYNs.
    TimedOut,
}

impl Refusal {
    pub fn strerror(self) -> &'static str {
        match self {
            Refusal::Refused => "Connection refused",
            Refusal::NoRoute => "No route to host",
            Refusal::TimedOut => "Connection timed out",
        }
    }

    // linux net/ipv4/tcp_timer.c tcp_write_timeout (tcp_syn_retries), net/core/neighbour.c
    // neigh_timer_handler (mcast_solicit, then EHOSTUNREACH)
    /// Modelled seconds connect() blocks before it fails: at once on a reset; three
    /// unanswered neighbour solicitations a second apart (net.ipv4.neigh.*.mcast_solicit 3);
    /// the SYN and its 6 retries with doubling timeouts from 1 s (net.ipv4.tcp_syn_retries 6:
    /// 1+2+…+64 = 127 s).
    pub fn seconds(self) -> f64 {
        match self {
            Refusal::Refused => 0.0,
            Refusal::NoRoute => 3.0,
            Refusal::TimedOut => 127.0,
        }
    }
}

/// A connection connect() opened: the local address and the accepting peer's boot.
#[derive(Debug, Clone)]
pub struct Opened {
    pub local: IpAddr,
    pub peer: SocketAddr,
    pub peer_boot: String,
    /// What the peer wrote as soon as it accepted (read by `cat </dev/tcp/...`).
    pub greeting: String,
}

/// connect() from `guest` to `dst`:`port`.
pub fn open(
    guest: &GuestRef,
    dst: IpAddr,
    port: u16,
    net: &dyn Network,
) -> Result<Opened, Refusal> {
    let sender = Sender::snapshot(guest);
    if let Some((local, peer_boot)) = sender.accepted_by(dst, port, net) {
        let peer = SocketAddr::new(dst, port);
        let greeting = sender.greeting(dst, port, net);
        return Ok(Opened {
            local,
            peer,
            peer_boot,
            greeting,
        });
    }
    Err(if sender.reaches(dst, None, net) {
        Refusal::Refused
    } else if sender.on_link(dst, None).is_some() {
        Refusal::NoRoute
    } else {
        Refusal::TimedOut
    })
}

/// `pid` holds `opened` for as long as it runs.
pub fn hold(g: &mut super::Guest, pid: u32, opened: Opened) {
    g.connections.push(Connection {
        pid,
        local: SocketAddr::new(opened.local, 32768 + (pid % 28000) as u16),
        peer: opened.peer,
        peer_boot: opened.peer_boot,
    });
}

/// `ncat -z [-w N] host port`: silent, exit 0 when something accepts, 1 otherwise.
pub fn probe(guest: &GuestRef, dst: IpAddr, port: u16, net: &dyn Network) -> Output {
    match open(guest, dst, port, net) {
        Ok(_) => Output::ok(""),
        Err(_) => Output::fail(1, ""),
    }
}

/// `ncat host port &`: the client runs while its connection is open; refused, it exits at once.
pub fn connect(guest: &GuestRef, line: &str, dst: IpAddr, port: u16, net: &dyn Network) -> u32 {
    let opened = open(guest, dst, port, net);
    let g = &mut lock(guest);
    let pid = g.spawn(line, None);
    match opened {
        Ok(opened) => hold(g, pid, opened),
        Err(_) => {
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

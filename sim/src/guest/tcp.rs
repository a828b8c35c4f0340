//! TCP as a guest sees it, through nmap-ncat (RHEL's `nc`) and `ss`: listeners, clients that
//! keep a connection open, `-z` probes. A connection holds while its client process runs, the
//! fabric still carries packets to the peer address, and the same boot of the peer guest
//! still listens. So it survives a migration that keeps addresses, and breaks when the peer
//! reboots, moves to another network or its address changes. Only the client side is listed.

use std::net::{IpAddr, SocketAddr};

use super::linux::Sender;
use super::shell::Output;
use super::{lock, Guest, GuestRef, Network};

#[derive(Debug, Clone)]
pub struct Connection {
    pub pid: u32,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub peer_boot: String,
}

/// What an `ncat`/`nc` command line asks for.
#[derive(Debug, PartialEq)]
pub enum Ncat {
    Listen(u16),
    Connect(IpAddr, u16),
    Probe(IpAddr, u16),
}

pub fn is_ncat(program: &str) -> bool {
    matches!(program, "ncat" | "nc")
}

pub fn parse(args: &[&str]) -> Option<Ncat> {
    let listen = args.iter().any(|a| {
        *a == "-l"
            || *a == "--listen"
            || a.starts_with("-l") && a.len() > 2 && !a[2..].contains(|c: char| c.is_ascii_digit())
    });
    let probe = args.contains(&"-z");
    let mut words = Vec::new();
    let mut i = 1;
    while i < args.len() {
        match args[i] {
            "-w" | "-i" | "-p" | "-s" | "--wait" => i += 1,
            a if a.starts_with('-') => {}
            a => words.push(a),
        }
        i += 1;
    }
    let port: u16 = words.last()?.parse().ok()?;
    if listen {
        return Some(Ncat::Listen(port));
    }
    let host: IpAddr = words.first()?.parse().ok()?;
    Some(if probe {
        Ncat::Probe(host, port)
    } else {
        Ncat::Connect(host, port)
    })
}

/// The TCP ports processes of `g` listen on.
pub fn listening_ports(g: &Guest) -> Vec<u16> {
    g.processes
        .values()
        .filter_map(|p| {
            let words: Vec<&str> = p.command.split_whitespace().collect();
            match parse(&words).filter(|_| is_ncat(words.first().copied().unwrap_or(""))) {
                Some(Ncat::Listen(port)) => Some(port),
                _ => None,
            }
        })
        .collect()
}

/// Whether a process of `g` listens on `port`.
pub fn listens_on(g: &Guest, port: u16) -> bool {
    listening_ports(g).contains(&port)
}

impl Sender {
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
        self.nics.iter().filter(|n| n.up).find_map(|n| {
            let boot = net.listener(n, dst, port)?;
            let local = n
                .addrs
                .iter()
                .find(|(a, _)| a.is_ipv4() == dst.is_ipv4())?
                .0;
            Some((local, boot))
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ncat_command_lines_are_read_like_ncat_reads_them() {
        assert_eq!(
            parse(&["ncat", "-l", "-k", "5000"]),
            Some(Ncat::Listen(5000))
        );
        assert_eq!(parse(&["nc", "-lk", "5000"]), Some(Ncat::Listen(5000)));
        let ip: IpAddr = "10.100.0.3".parse().unwrap();
        assert_eq!(
            parse(&["ncat", "-z", "-w", "2", "10.100.0.3", "5000"]),
            Some(Ncat::Probe(ip, 5000))
        );
        assert_eq!(
            parse(&["ncat", "10.100.0.3", "5000"]),
            Some(Ncat::Connect(ip, 5000))
        );
        assert_eq!(parse(&["ncat", "somehost"]), None);
    }
}

//! Guests: what runs inside each VMI (OS, boot id, processes, NICs, CPUs, memory, users and
//! their SSH keys), reached over SSH through the VMI port-forward.
//!
//! A guest lives as long as its VMI: a migration moves the same guest (so boot id, uptime,
//! PIDs and MACs survive); a reset or a new VMI boots a new one.

pub mod clock;
pub mod cloudinit;
pub mod command;
pub mod console;
pub mod distro;
pub mod echoes;
pub mod image;
pub mod linux;
pub mod ncat;
pub mod posix;
pub mod sender;
pub mod shell;
pub mod ssh;
pub mod tcp;
#[cfg(test)]
mod testing;
mod windows;
pub mod words;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use russh::keys::PublicKey;

/// Which shell dialect the guest speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// RHEL-like: bash, coreutils, iproute2, iputils, procps.
    Linux,
    /// Windows Server with OpenSSH; commands run through PowerShell.
    Windows,
}

/// A guest NIC.
#[derive(Debug, Clone)]
pub struct Nic {
    /// Name inside the guest (`eth1`, `Ethernet 2`).
    pub name: String,
    /// The VM network it is attached to (`spec.networks[].name`).
    pub network: String,
    pub mac: String,
    /// Addresses configured in the guest, with prefix length.
    pub addrs: Vec<(IpAddr, u8)>,
    /// Where the NIC's traffic goes; two NICs talk only on the same segment.
    pub segment: String,
    /// A segment it should have left but still bridges into (the `old-vlan-still-reachable`
    /// regression).
    pub stale_segment: Option<String>,
    /// When it bridges into `stale_segment` (always when None): the `old-vlan-returns`
    /// regression joins the old network now and then, from a while after the swap.
    pub stale_from: Option<Flapping>,
    /// Addresses other guests reach this NIC at (the pod IP behind masquerade NAT).
    pub reachable_at: Vec<IpAddr>,
    /// The only source addresses its switch port lets through, when the guest's frames reach
    /// an OVN logical switch port directly (bridged onto a primary UDN with IPAM): the port's
    /// `port_security` holds the MAC and the allocated addresses (ovn-kubernetes
    /// go-controller/pkg/ovn/base_network_controller_pods.go `addLogicalPortToNetwork`).
    pub port_security: Option<Vec<IpAddr>>,
    /// The address traffic to outside the cluster leaves with: the node's, as the gateway
    /// router SNATs the network's subnets to it (ovn-kubernetes go-controller/pkg/ovn/
    /// gateway.go `GatewayManager.updateGWRouterNAT`, shared gateway mode, network not
    /// advertised). None off the pod network.
    pub egress: Option<IpAddr>,
    pub up: bool,
    /// The switches send its frames elsewhere: a migration target pod announced its MAC on
    /// another node (see controllers/migration/fdb.rs); nothing reaches it until that ends.
    pub misdirected: bool,
    /// The node it is plugged in on (empty before its guest is placed).
    pub node: String,
    /// Its last migration's switchover (world/handover.rs), shared with its snapshots.
    pub handover: Option<std::sync::Arc<crate::world::handover::Handover>>,
}

/// A running process; `dirty` is the memory it keeps re-writing (bytes/s, working set).
#[derive(Debug, Clone)]
pub struct Process {
    pub command: String,
    pub dirty: Option<(f64, f64)>,
    /// The TCP port it accepts connections on, if it is a listener.
    pub listen: Option<u16>,
}

/// A TCP connection a guest's client process opened.
#[derive(Debug, Clone)]
pub struct Connection {
    pub pid: u32,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    pub peer_boot: String,
}

#[derive(Debug)]
pub struct Guest {
    pub os: Os,
    /// The release it runs (`/etc/os-release`, `uname -r`).
    pub distro: &'static distro::Distro,
    pub hostname: String,
    pub boot_id: String,
    /// Its wall and monotonic clocks, which stand still while it is paused.
    pub clock: clock::GuestClock,
    time_scale: f64,
    pub vcpus: u32,
    pub memory_bytes: u64,
    pub nics: Vec<Nic>,
    pub processes: BTreeMap<u32, Process>,
    /// TCP connections this guest opened (client side).
    pub connections: Vec<Connection>,
    next_pid: u32,
    /// User name → authorized public keys.
    pub users: BTreeMap<String, Vec<PublicKey>>,
    /// Paused by the user or by the migration monitor: no CPU runs, no packet moves.
    paused: bool,
    /// The OS is up: the guest agent answers.
    pub up: bool,
    /// sshd accepts connections: it starts a while after the agent (controllers/boot.rs).
    pub sshd_listening: bool,
    /// The real guest behind this model in the real-guest lane (`--guests qemu`): its sshd is
    /// what the port-forward dials. Dropping the last reference ends the qemu process.
    pub machine: Option<std::sync::Arc<crate::qemu::Machine>>,
    /// Counts what ends the connections into the guest (port forwards, the serial console):
    /// a move to another node (they ran through the old virt-launcher), the guest going down
    /// (see `go_down`).
    pub cuts: tokio::sync::watch::Sender<u64>,
    /// SSH connections opened to this guest so far.
    pub ssh_connections: u32,
    /// Who is logged in on the serial console: the tty's shell outlives the connections to
    /// it (and a migration), until `exit` or a reboot.
    pub console_user: Option<String>,
    /// The RPM packages installed (Linux): the image's, then what `dnf install` added.
    pub packages: Vec<&'static str>,
    /// Whether `dnf` reaches a package repository.
    pub repository: bool,
    /// Files background jobs write (`ping … > /tmp/log &`), by absolute path: they outlive the
    /// command line that started the job, until the next boot.
    pub files: BTreeMap<String, String>,
}

/// What a guest is booted with.
#[derive(Debug, Clone)]
pub struct BootSpec {
    pub distro: &'static distro::Distro,
    pub hostname: String,
    pub vcpus: u32,
    pub memory_bytes: u64,
    pub nics: Vec<Nic>,
    pub users: BTreeMap<String, Vec<PublicKey>>,
    /// The golden image's extra packages and repository (Linux guests).
    pub image: image::GuestImage,
}

impl Guest {
    pub fn boot(spec: BootSpec, time_scale: f64) -> Guest {
        let mut guest = Guest {
            os: spec.distro.os,
            distro: spec.distro,
            hostname: spec.hostname,
            boot_id: String::new(),
            clock: clock::GuestClock::boot(),
            time_scale,
            vcpus: spec.vcpus,
            memory_bytes: spec.memory_bytes,
            nics: spec.nics,
            processes: BTreeMap::new(),
            connections: Vec::new(),
            next_pid: 1,
            users: spec.users,
            paused: false,
            up: false,
            sshd_listening: false,
            machine: None,
            cuts: tokio::sync::watch::channel(0).0,
            ssh_connections: 0,
            console_user: None,
            packages: match spec.distro.os {
                Os::Linux => spec.image.installed(),
                Os::Windows => Vec::new(),
            },
            repository: spec.image.repository,
            files: BTreeMap::new(),
        };
        guest.reboot();
        guest
    }

    /// A new boot: new boot id, uptime from zero, only the OS's own processes.
    pub fn reboot(&mut self) {
        self.boot_id = uuid::Uuid::new_v4().to_string();
        self.files.clear();
        self.clock = clock::GuestClock::boot();
        if self.paused {
            self.clock.pause();
        }
        self.processes.clear();
        self.connections.clear();
        self.console_user = None;
        self.next_pid = 1;
        let base: &[&str] = match self.os {
            Os::Linux => &[
                "systemd",
                "systemd-journald",
                "NetworkManager",
                "sshd",
                "qemu-ga",
                "chronyd",
                "crond",
            ],
            Os::Windows => &[
                "System", "smss", "csrss", "wininit", "services", "lsass", "sshd", "qemu-ga",
            ],
        };
        for command in base {
            if *command == "qemu-ga" && !self.distro.guest_agent {
                continue;
            }
            self.spawn(command, None);
        }
        // Kernel threads and boot-time helpers used up the low PIDs.
        self.next_pid = 1000 + (rand::random::<u32>() % 1000);
    }

    /// Every process started again, under new PIDs (a product regression of the catalogue).
    pub fn restart_processes(&mut self) {
        let running: Vec<Process> = std::mem::take(&mut self.processes).into_values().collect();
        for p in running {
            let pid = self.spawn(&p.command, p.dirty);
            self.processes.insert(pid, p);
        }
    }

    /// Starts a process and returns its PID.
    pub fn spawn(&mut self, command: &str, dirty: Option<(f64, f64)>) -> u32 {
        let pid = self.next_pid;
        self.next_pid += 1;
        self.processes.insert(
            pid,
            Process {
                command: command.to_string(),
                dirty,
                listen: None,
            },
        );
        pid
    }

    /// Modelled seconds since boot, less the time paused (the guest's monotonic clock).
    pub fn uptime(&self) -> f64 {
        self.clock.ran().as_secs_f64() * self.time_scale
    }

    /// The guest stops: shut down, or killed with its virt-launcher pod. Its connections end
    /// with it. On a shutdown systemd stops sshd and the login sessions (the client reads the
    /// end of the stream); when the pod goes, its network namespace goes with QEMU and
    /// virt-api's dialled stream (kubevirt v1.9.0 pkg/virt-api/rest/dialers.go
    /// netDial.DialUnderlying, a plain TCP connection to the pod's address) gets no more
    /// answers: a real client notices on its next timeout, here it is ended at once, as a
    /// dial to a pod that is gone is refused at once (controllers/portforward.rs `connect`).
    pub fn go_down(&mut self) {
        self.up = false;
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// The vCPUs stop or run again; the guest's clocks with them.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        match paused {
            true => self.clock.pause(),
            false => self.clock.resume(),
        }
    }

    /// Modelled seconds per real second.
    pub fn time_scale(&self) -> f64 {
        self.time_scale
    }

    /// The boot time as the OS shows it (`/proc/stat` `btime`, `LastBootUpTime`): constant
    /// within a boot until the wall clock is set after a pause (see [`clock`]). The guest's
    /// uptime runs on the simulator's scaled clock, its wall clock on the real one.
    pub fn boot_time(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.boot_time()
    }

    /// Memory the OS sees as total (the firmware and kernel keep a little).
    pub fn mem_total(&self) -> u64 {
        (self.memory_bytes as f64 * 0.96) as u64 / 4096 * 4096
    }

    /// The TCP ports its processes listen on.
    pub fn listening_ports(&self) -> Vec<u16> {
        self.processes.values().filter_map(|p| p.listen).collect()
    }

    /// Memory the running workloads keep dirtying: (bytes per second, working set bytes).
    pub fn dirty_load(&self) -> (f64, f64) {
        self.processes
            .values()
            .filter_map(|p| p.dirty)
            .fold((0.0, 0.0), |(r, w), (pr, pw)| (r + pr, w + pw))
    }
}

/// Who can reach whom; the L2 fabric answers it.
pub trait Network: Send + Sync {
    /// Whether `from` (a guest NIC) gets an answer from `to` right now.
    fn reachable(&self, from: &Nic, to: IpAddr) -> bool;
    /// The boot id of the guest that accepts TCP from `from` at `to`:`port` right now.
    fn listener(&self, from: &Nic, to: IpAddr, port: u16) -> Option<String>;
    /// The connections other guests hold to the guest booted as `boot_id`, from its side:
    /// (local, peer).
    fn accepted(&self, boot_id: &str) -> Vec<(std::net::SocketAddr, std::net::SocketAddr)>;
    /// What the peer at `to`:`port` sends on a connection from `from` as soon as it accepts
    /// it (guests send nothing; a service outside the cluster may greet).
    fn served(&self, _from: &Nic, _to: IpAddr, _port: u16) -> String {
        String::new()
    }
    /// The same network as an owned handle, for a background job that keeps sending after
    /// the command line returned; `None` where a test network cannot be shared.
    fn detached(&self) -> Option<Box<dyn Network>> {
        None
    }
}

pub type GuestRef = Arc<Mutex<Guest>>;

/// Every guest, by VMI UID.
#[derive(Default)]
pub struct Guests {
    by_vmi: Mutex<HashMap<String, GuestRef>>,
}

impl Guests {
    pub fn insert(&self, vmi_uid: &str, guest: Guest) -> GuestRef {
        let guest = Arc::new(Mutex::new(guest));
        self.lock().insert(vmi_uid.to_string(), guest.clone());
        guest
    }

    pub fn get(&self, vmi_uid: &str) -> Option<GuestRef> {
        self.lock().get(vmi_uid).cloned()
    }

    pub fn remove(&self, vmi_uid: &str) {
        self.lock().remove(vmi_uid);
    }

    pub fn all(&self) -> Vec<GuestRef> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, GuestRef>> {
        self.by_vmi.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Locks a guest; a panic elsewhere leaves the model usable.
pub fn lock(guest: &GuestRef) -> std::sync::MutexGuard<'_, Guest> {
    guest.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `a` and `b` share the first `len` bits (same family only).
pub fn same_subnet(a: IpAddr, b: IpAddr, len: u8) -> bool {
    let (a, b, bits) = match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let host_bits = bits - u32::from(len.min(bits as u8));
    host_bits >= bits || (a >> host_bits) == (b >> host_bits)
}

/// A connection that comes and goes: from `from` on, for `on` at the start of every `every`
/// (real time, the clock's scale applied).
#[derive(Debug, Clone, Copy)]
pub struct Flapping {
    pub from: std::time::Instant,
    pub every: std::time::Duration,
    pub on: std::time::Duration,
}

impl Flapping {
    /// Whether it is on at `now`.
    pub fn on_at(&self, now: std::time::Instant) -> bool {
        let Some(since) = now.checked_duration_since(self.from) else {
            return false;
        };
        let every = self.every.as_nanos().max(1);
        since.as_nanos() % every < self.on.as_nanos()
    }
}

#[cfg(test)]
mod flapping_tests {
    use super::Flapping;
    use std::time::{Duration, Instant};

    #[test]
    fn a_flapping_link_is_on_at_the_start_of_each_period_only() {
        let from = Instant::now();
        let f = Flapping {
            from,
            every: Duration::from_secs(10),
            on: Duration::from_secs(3),
        };
        let at = |s: f64| f.on_at(from + Duration::from_secs_f64(s));
        assert!(!f.on_at(from - Duration::from_secs(1)));
        assert!(at(0.0) && at(2.9) && at(10.5) && at(22.0));
        assert!(!at(3.0) && !at(9.9) && !at(13.5));
        // Ten samples a second apart, wherever they start, see it on.
        for start in [0.0, 2.5, 3.2, 7.9, 14.4] {
            assert!((0..10).any(|i| at(start + i as f64)), "from {start}");
        }
    }
}

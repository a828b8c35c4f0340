//! Guests for unit tests: booted from a distro with one NIC, alone on a network that
//! reaches nothing.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::{distro::Distro, BootSpec, Guest, GuestRef, Network, Nic};

pub struct Nowhere;

impl Network for Nowhere {
    fn reachable(&self, _: &Nic, _: IpAddr) -> bool {
        false
    }
    fn listener(&self, _: &Nic, _: IpAddr, _: u16) -> Option<String> {
        None
    }
    fn accepted(&self, _: &str) -> Vec<(SocketAddr, SocketAddr)> {
        Vec::new()
    }
}

/// A running guest of `distro` named `hostname`, with NIC `nic` (MAC `mac`, 10.0.2.2/24) on
/// the pod network.
pub fn booted(distro: &'static Distro, hostname: &str, nic: &str, mac: &str) -> GuestRef {
    let nic = Nic {
        name: nic.into(),
        network: "default".into(),
        mac: mac.into(),
        addrs: vec![("10.0.2.2".parse().unwrap(), 24)],
        segment: "pod".into(),
        stale_segment: None,
        stale_from: None,
        reachable_at: Vec::new(),
        port_security: None,
        egress: None,
        up: true,
        misdirected: false,
        node: String::new(),
        handover: None,
    };
    let spec = BootSpec {
        distro,
        hostname: hostname.into(),
        vcpus: 2,
        memory_bytes: 1 << 30,
        nics: vec![nic],
        users: BTreeMap::new(),
        image: Default::default(),
    };
    std::sync::Arc::new(std::sync::Mutex::new(Guest::boot(spec, 1.0)))
}

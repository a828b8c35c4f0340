//! What scenarios need to know about the target beyond its API: guest images and users, the
//! node NICs free for test networks, the VLANs the switch carries, and the SSH command budget.
//! The defaults match `vstp sim serve`.

use std::time::Duration;

use super::build::Image;
use crate::guest::os::Dirtier;

/// The IP families scenarios check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Families {
    pub v4: bool,
    pub v6: bool,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub rhel_image: Image,
    pub windows_image: Image,
    /// Whether a Windows image was configured (the default only exists in the simulator).
    pub windows_configured: bool,
    pub rhel_user: String,
    pub windows_user: String,
    /// The Windows image's password for `windows_user`: when set, the harness logs in to
    /// Windows with it (as the downstream suite does) instead of the accessCredentials key.
    pub windows_password: Option<String>,
    /// The VirtualMachineClusterPreference Windows VMs name (e.g. `windows.2k22`): KubeVirt
    /// gives their VMIs its Hyper-V enlightenments, clock, firmware and devices.
    pub windows_preference: Option<String>,
    /// What keeps a busy RHEL guest's memory dirty.
    pub rhel_dirtier: Dirtier,
    /// The worker NIC a Linux bridge is built on.
    pub bridge_nic: String,
    /// The worker NIC an OVS bridge for localnet is built on.
    pub localnet_nic: String,
    /// Two VLANs the switch carries to every worker's NICs.
    pub vlans: [u16; 2],
    /// First two octets of the scenario IPv4 subnets (`<a>.<b>.<n>.0/24`).
    pub ipv4_prefix: [u8; 2],
    /// First two groups of the scenario IPv6 subnets (`<a>:<b>:<n>::/64`).
    pub ipv6_prefix: [u16; 2],
    pub families: Families,
    /// A host outside the cluster that answers a TCP connection on this address and port
    /// with the client address it sees, one line (`ncat -lk 8080 -c 'echo $NCAT_REMOTE_ADDR'`):
    /// what north-south scenarios reach from a guest.
    pub external_host: std::net::SocketAddr,
    /// Longest one guest command may take.
    pub ssh_timeout: Duration,
    /// Double every wait budget (loaded bare-metal clusters).
    pub slow: bool,
    /// Storage class for the claims scenarios create (the cluster default when None).
    pub storage_class: Option<String>,
    /// Longest connectivity gap a live migration may cause on a secondary network, seconds
    /// (`stuntime.threshold_seconds`; 5.0 as the downstream suite's global threshold).
    pub stuntime_threshold: f64,
}

impl Default for Profile {
    fn default() -> Profile {
        Profile {
            rhel_image: Image::ContainerDisk(
                "registry.redhat.io/rhel9/rhel-guest-image:latest".into(),
            ),
            windows_image: Image::ContainerDisk("vstp.local/windows2k22:latest".into()),
            windows_configured: false,
            rhel_user: "cloud-user".into(),
            windows_user: "Administrator".into(),
            windows_password: None,
            windows_preference: None,
            rhel_dirtier: Dirtier::default(),
            bridge_nic: "eth1".into(),
            localnet_nic: "eth2".into(),
            vlans: [10, 20],
            ipv4_prefix: [10, 200],
            ipv6_prefix: [0xfd00, 0x200],
            families: Families { v4: true, v6: true },
            // vstp-sim's external host (sim/src/world/external.rs).
            external_host: std::net::SocketAddr::from(([198, 51, 100, 10], 8080)),
            ssh_timeout: Duration::from_secs(60),
            slow: false,
            storage_class: None,
            stuntime_threshold: 5.0,
        }
    }
}

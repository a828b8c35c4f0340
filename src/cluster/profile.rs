//! What scenarios need to know about the target beyond its API: guest images and users, the
//! node NICs free for test networks, the VLANs the switch carries, and the SSH command budget.
//! The defaults match `vstp sim serve`.

use std::time::Duration;

use super::build::Image;

#[derive(Debug, Clone)]
pub struct Profile {
    pub rhel_image: Image,
    pub windows_image: Image,
    pub rhel_user: String,
    pub windows_user: String,
    /// The worker NIC a Linux bridge is built on.
    pub bridge_nic: String,
    /// The worker NIC an OVS bridge for localnet is built on.
    pub localnet_nic: String,
    /// Two VLANs the switch carries to every worker's NICs.
    pub vlans: [u16; 2],
    /// Longest one guest command may take.
    pub ssh_timeout: Duration,
}

impl Default for Profile {
    fn default() -> Profile {
        Profile {
            rhel_image: Image::ContainerDisk(
                "registry.redhat.io/rhel9/rhel-guest-image:latest".into(),
            ),
            windows_image: Image::ContainerDisk("vstp.local/windows2k22:latest".into()),
            rhel_user: "cloud-user".into(),
            windows_user: "Administrator".into(),
            bridge_nic: "eth1".into(),
            localnet_nic: "eth2".into(),
            vlans: [10, 20],
            ssh_timeout: Duration::from_secs(60),
        }
    }
}

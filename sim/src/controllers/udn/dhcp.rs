//! What the guest's pod-network NIC holds when it is bridged onto a primary layer2 UDN: OVN
//! answers its DHCPv4 with the address OVN-Kubernetes allocated to the launcher pod, while an
//! address the guest is given statically (cloud-init network data) is used as it is. Nothing
//! tells the cluster what cloud-init configures: the two agree only when the VM asked for that
//! same address (`network.kubevirt.io/addresses`, see webhook.rs and ipam.rs).

use std::net::IpAddr;

use crate::guest::cloudinit::GuestConfig;

/// The guest's addresses on its bridged pod NIC named `name` with `mac`, given the address
/// OVN-Kubernetes allocated (`lease`, with its prefix length).
///
/// ovn-kubernetes (master) go-controller/pkg/ovn/base_network_controller_user_defined.go
/// `BaseUserDefinedNetworkController.requireDHCP` / `ensureDHCP` (before the rename,
/// base_network_controller_secondary.go `BaseSecondaryNetworkController`) and
/// go-controller/pkg/kubevirt/dhcp.go
/// `EnsureDHCPOptionsForLSP`: a VM's port on a primary layer2 UDN gets DHCPv4 options for
/// the pod annotation's addresses, with the ARP proxy's link-local address as router (kubevirt
/// `ARPProxyIPv4`, 169.254.1.1); OVN's native DHCP
/// offers the port's own address. cloud-init (netplan v2 `ethernets`, rendered to
/// NetworkManager on RHEL) configures a NIC it describes with its `addresses`, and with DHCP
/// only when it says `dhcp4: true`; a pod NIC it does not describe stays on the image's
/// default DHCP.
pub fn guest_addresses(
    config: &GuestConfig,
    name: &str,
    mac: &str,
    lease: (IpAddr, u8),
) -> Vec<(IpAddr, u8)> {
    let described = config
        .addresses
        .get(name)
        .or_else(|| config.addresses.get(mac))
        .filter(|a| !a.is_empty());
    let on_dhcp = config.dhcp4.contains(name) || config.dhcp4.contains(mac);
    match described {
        None => vec![lease],
        Some(statics) => {
            let mut all = statics.clone();
            if on_dhcp && !all.contains(&lease) {
                all.push(lease);
            }
            all
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> (IpAddr, u8) {
        ("10.100.0.3".parse().unwrap(), 16)
    }

    #[test]
    fn a_pod_nic_cloud_init_leaves_alone_takes_the_dhcp_lease() {
        let config = GuestConfig::default();
        assert_eq!(
            guest_addresses(&config, "eth0", "02:00:00:00:00:01", lease()),
            [lease()]
        );
    }

    #[test]
    fn a_static_address_is_the_guests_whatever_was_allocated() {
        let mut config = GuestConfig::default();
        let wanted = ("10.100.0.200".parse().unwrap(), 16);
        config
            .addresses
            .insert("02:00:00:00:00:01".into(), vec![wanted]);
        let mac = "02:00:00:00:00:01";
        assert_eq!(guest_addresses(&config, "eth0", mac, lease()), [wanted]);
        config.dhcp4.insert(mac.into());
        assert_eq!(
            guest_addresses(&config, "eth0", mac, lease()),
            [wanted, lease()]
        );
    }
}

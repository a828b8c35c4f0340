//! A VM's NICs: how each is bound inside the launcher pod, which network it joins and the MAC
//! it asks for (the VM builder gives secondary NICs one from the run's pool, build/mac.rs).

use serde_json::{json, Value};

/// How a NIC is bound to its network inside the launcher pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Masquerade,
    Bridge,
    /// The binding plugin a primary user-defined network uses.
    L2Bridge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// The pod network (or the namespace's primary UDN).
    Pod,
    /// A secondary network through a NetworkAttachmentDefinition of the VM's namespace.
    Multus(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub name: String,
    pub binding: Binding,
    pub network: Network,
    pub mac: Option<String>,
    /// Static addresses in CIDR form, given by cloud-init.
    pub addresses: Vec<String>,
    /// The default route's gateway cloud-init gives the NIC with its static addresses.
    pub gateway: Option<std::net::IpAddr>,
    /// cloud-init puts the NIC on DHCPv4 (`dhcp4: true`).
    pub dhcp4: bool,
}

impl Nic {
    /// The usual first NIC: the pod network behind masquerade.
    pub fn pod() -> Nic {
        Nic {
            name: "default".into(),
            binding: Binding::Masquerade,
            network: Network::Pod,
            mac: None,
            addresses: Vec::new(),
            gateway: None,
            dhcp4: false,
        }
    }

    /// The pod network served by a primary UDN, bound with l2bridge.
    pub fn primary_udn() -> Nic {
        Nic {
            binding: Binding::L2Bridge,
            ..Nic::pod()
        }
    }

    /// A bridge-bound NIC on NAD `nad`.
    pub fn bridge(name: &str, nad: &str) -> Nic {
        Nic {
            name: name.into(),
            binding: Binding::Bridge,
            network: Network::Multus(nad.into()),
            mac: None,
            addresses: Vec::new(),
            gateway: None,
            dhcp4: false,
        }
    }

    pub fn with_mac(mut self, mac: &str) -> Nic {
        self.mac = Some(mac.to_lowercase());
        self
    }

    pub fn with_addresses(mut self, cidrs: &[impl AsRef<str>]) -> Nic {
        self.addresses = cidrs.iter().map(|c| c.as_ref().to_string()).collect();
        self
    }

    /// The default route through `gateway` (cloud-init `routes`), beside static addresses.
    pub fn with_gateway(mut self, gateway: std::net::IpAddr) -> Nic {
        self.gateway = Some(gateway);
        self
    }

    /// DHCPv4 on this NIC (cloud-init `dhcp4: true`).
    pub fn on_dhcp(mut self) -> Nic {
        self.dhcp4 = true;
        self
    }

    pub fn interface(&self) -> Value {
        let mut iface = json!({"name": self.name});
        match self.binding {
            Binding::Masquerade => iface["masquerade"] = json!({}),
            Binding::Bridge => iface["bridge"] = json!({}),
            Binding::L2Bridge => iface["binding"] = json!({"name": "l2bridge"}),
        }
        if let Some(mac) = &self.mac {
            iface["macAddress"] = json!(mac);
        }
        iface
    }

    pub fn network(&self) -> Value {
        match &self.network {
            Network::Pod => json!({"name": self.name, "pod": {}}),
            Network::Multus(nad) => json!({"name": self.name, "multus": {"networkName": nad}}),
        }
    }
}

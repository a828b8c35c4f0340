//! A VM's NICs: how each is bound inside the launcher pod and which network it joins, with
//! stable MACs derived from the VM and NIC names so a scenario knows them before the VM exists.

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

/// A locally administered unicast MAC (02:…) derived from the VM and NIC names (FNV-1a), so a
/// scenario knows its MACs before the VM exists.
pub fn stable_mac(vm: &str, nic: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in vm.bytes().chain([b'/']).chain(nic.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let b = hash.to_be_bytes();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[3], b[4], b[5], b[6], b[7]
    )
}

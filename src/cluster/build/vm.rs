//! VirtualMachines from small named options, in the style of KubeVirt's libvmi:
//! `VmSpec::rhel("vm-a").with_nic(Nic::bridge("net1", "vlan10").with_addresses(..)).on_node(..)`.
//! Secondary NICs get a stable MAC derived from the VM and NIC names, and their static
//! addresses are given to cloud-init by that MAC, so the guest's own interface naming never
//! matters.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::bases;
use crate::guest::os::GuestOs;

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

/// Where the root disk comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// An image with a containerdisk (ephemeral, always migratable).
    ContainerDisk(String),
    /// A PVC of the VM's namespace (non-migratable unless ReadWriteMany).
    Pvc(String),
    /// A CDI DataSource (the golden images of OpenShift Virtualization), cloned per VM into a
    /// DataVolume of `size` on `storage_class` (the default class when None).
    DataSource {
        name: String,
        namespace: String,
        size: String,
        storage_class: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct VmSpec {
    pub name: String,
    pub os: GuestOs,
    pub image: Image,
    pub sockets: u32,
    pub max_sockets: Option<u32>,
    pub memory: String,
    pub max_memory: Option<String>,
    pub nics: Vec<Nic>,
    pub node: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub eviction: Option<&'static str>,
    /// The login user and the OpenSSH public key it accepts.
    pub login: Option<(String, String)>,
    /// The login user's password (cloud-init `password`), for the serial console.
    pub console_password: Option<String>,
    /// Extra data disks: PVC names of the VM's namespace.
    pub data_disks: Vec<String>,
    /// Annotations of the VMI template.
    pub annotations: BTreeMap<String, String>,
    /// NICs cloud-init describes before they exist (for hotplug): they get their addresses
    /// when they appear.
    pub awaited_nics: Vec<Nic>,
}

impl VmSpec {
    /// A RHEL VM on the pod network: one socket of two cores, 1 GiB.
    pub fn rhel(name: &str, image: Image) -> VmSpec {
        VmSpec {
            name: name.into(),
            os: GuestOs::Rhel,
            image,
            sockets: 1,
            max_sockets: None,
            memory: "1Gi".into(),
            max_memory: None,
            nics: vec![Nic::pod()],
            node: None,
            labels: BTreeMap::new(),
            eviction: Some("LiveMigrate"),
            login: None,
            console_password: None,
            data_disks: Vec::new(),
            annotations: BTreeMap::new(),
            awaited_nics: Vec::new(),
        }
    }

    /// A Windows Server VM: two sockets, 4 GiB.
    pub fn windows(name: &str, image: Image) -> VmSpec {
        VmSpec {
            os: GuestOs::Windows,
            sockets: 2,
            memory: "4Gi".into(),
            ..VmSpec::rhel(name, image)
        }
    }

    /// Adds a NIC; a secondary NIC without a MAC gets a stable one.
    pub fn with_nic(mut self, nic: Nic) -> VmSpec {
        let mac = nic
            .mac
            .clone()
            .or_else(|| (nic.network != Network::Pod).then(|| stable_mac(&self.name, &nic.name)));
        self.nics.push(Nic { mac, ..nic });
        self
    }

    /// Replaces the pod NIC, e.g. with [`Nic::primary_udn`].
    pub fn with_pod_nic(mut self, nic: Nic) -> VmSpec {
        self.nics.retain(|n| n.network != Network::Pod);
        self.nics.insert(0, nic);
        self
    }

    pub fn on_node(mut self, node: &str) -> VmSpec {
        self.node = Some(node.into());
        self
    }

    pub fn with_cpu(mut self, sockets: u32, max_sockets: u32) -> VmSpec {
        self.sockets = sockets;
        self.max_sockets = Some(max_sockets);
        self
    }

    pub fn with_memory(mut self, guest: &str, max_guest: &str) -> VmSpec {
        self.memory = guest.into();
        self.max_memory = Some(max_guest.into());
        self
    }

    pub fn with_label(mut self, key: &str, value: &str) -> VmSpec {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Without an eviction strategy a drain deletes the VMI instead of migrating it.
    pub fn without_eviction_strategy(mut self) -> VmSpec {
        self.eviction = None;
        self
    }

    /// An annotation of the VMI template (e.g. `network.kubevirt.io/addresses`).
    pub fn with_template_annotation(mut self, key: &str, value: &str) -> VmSpec {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Asks the primary network's IPAM for `ips` on the VM's pod-network interface: the
    /// `network.kubevirt.io/addresses` annotation of the VMI template, a JSON map from that
    /// interface's name to bare addresses (kubevirt/ipam-extensions `pkg/ips/primarynetwork.go`
    /// `VmiInterfaceIPRequests`; a list or an address with a prefix makes its pod webhook refuse
    /// the launcher pod).
    pub fn requesting_addresses(self, ips: &[std::net::IpAddr]) -> VmSpec {
        let listed: Vec<String> = ips.iter().map(ToString::to_string).collect();
        let pod_nic = self.nics.iter().find(|n| n.network == Network::Pod);
        let name = pod_nic.map_or("default", |n| n.name.as_str());
        let value = serde_json::json!({ name: listed }).to_string();
        self.with_template_annotation("network.kubevirt.io/addresses", &value)
    }

    /// Describes `nic` to cloud-init now so it is configured when it is hot-plugged later;
    /// returns the NIC with the MAC it must be plugged with.
    pub fn awaiting(mut self, nic: Nic) -> (VmSpec, Nic) {
        let mac = nic
            .mac
            .clone()
            .unwrap_or_else(|| stable_mac(&self.name, &nic.name));
        let nic = Nic {
            mac: Some(mac),
            ..nic
        };
        self.awaited_nics.push(nic.clone());
        (self, nic)
    }

    /// Attaches PVC `claim` as a data disk (a ReadWriteOnce claim makes the VM
    /// non-migratable).
    pub fn with_data_disk(mut self, claim: &str) -> VmSpec {
        self.data_disks.push(claim.into());
        self
    }

    pub fn with_login(mut self, user: &str, public_key: &str) -> VmSpec {
        self.login = Some((user.into(), public_key.trim().into()));
        self.console_password = Some(format!("{:016x}", rand::random::<u64>()));
        self
    }

    /// The console login (user, password) of a RHEL guest the VMI port-forward cannot reach:
    /// its pod network is a primary UDN, isolated from virt-api's pod, which dials the first
    /// interface's address (kubevirt v1.9.0 pkg/virt-api/rest/dialers.go getTargetInterfaceIP).
    pub fn console_login(&self) -> Option<(String, String)> {
        let pod = self.nics.iter().find(|n| n.network == Network::Pod)?;
        if pod.binding != Binding::L2Bridge || self.os != GuestOs::Rhel {
            return None;
        }
        let (user, _) = self.login.as_ref()?;
        Some((user.clone(), self.console_password.clone()?))
    }

    /// The VirtualMachine object (namespace and ownership labels are added by the scope).
    pub fn build(&self) -> Value {
        let mut vm = bases::vm(&self.name);
        vm["metadata"]["labels"] = json!(self.labels);
        let mut labels = self.labels.clone();
        labels.insert("vstp.io/vm".into(), self.name.clone());
        let template = &mut vm["spec"]["template"];
        template["metadata"]["labels"] = json!(labels);
        let mut annotations = self.annotations.clone();
        if self.os == GuestOs::Windows {
            annotations.insert("vm.kubevirt.io/os".into(), "windows2k22".into());
        }
        if !annotations.is_empty() {
            template["metadata"]["annotations"] = json!(annotations);
        }
        self.fill(&mut template["spec"]);
        if let Some(templates) = self.data_volume_templates() {
            vm["spec"]["dataVolumeTemplates"] = templates;
        }
        vm
    }

    /// The template spec: domain, networks, volumes, placement, credentials.
    fn fill(&self, spec: &mut Value) {
        let domain = &mut spec["domain"];
        domain["cpu"]["sockets"] = json!(self.sockets);
        domain["memory"]["guest"] = json!(self.memory);
        domain["devices"]["interfaces"] = self.nics.iter().map(Nic::interface).collect();
        for claim in &self.data_disks {
            let disk = json!({"name": claim, "disk": {"bus": "virtio"}});
            if let Some(disks) = domain["devices"]["disks"].as_array_mut() {
                disks.push(disk);
            }
        }
        if let Some(max) = self.max_sockets {
            domain["cpu"]["maxSockets"] = json!(max);
        }
        if let Some(max) = &self.max_memory {
            domain["memory"]["maxGuest"] = json!(max);
        }
        spec["networks"] = self.nics.iter().map(Nic::network).collect();
        spec["volumes"] = json!(self.volumes());
        if let Some(node) = &self.node {
            spec["nodeSelector"] = json!({"kubernetes.io/hostname": node});
        }
        if let Some(strategy) = self.eviction {
            spec["evictionStrategy"] = json!(strategy);
        }
        if self.os == GuestOs::Windows {
            spec["accessCredentials"] = self.access_credentials();
        }
    }

    fn root_volume(&self) -> String {
        format!("{}-rootdisk", self.name)
    }

    /// The DataVolume a DataSource image is cloned into, live-migratable (ReadWriteMany block).
    fn data_volume_templates(&self) -> Option<Value> {
        let Image::DataSource {
            name,
            namespace,
            size,
            storage_class,
        } = &self.image
        else {
            return None;
        };
        let mut storage = json!({"resources": {"requests": {"storage": size}},
            "accessModes": ["ReadWriteMany"], "volumeMode": "Block"});
        if let Some(class) = storage_class {
            storage["storageClassName"] = json!(class);
        }
        Some(json!([{"metadata": {"name": self.root_volume()},
            "spec": {"sourceRef": {"kind": "DataSource", "name": name, "namespace": namespace},
                     "storage": storage}}]))
    }

    /// The name of the Secret holding a Windows VM's login key.
    pub fn key_secret(&self) -> String {
        format!("{}-ssh-key", self.name)
    }

    fn volumes(&self) -> Vec<Value> {
        let root = match &self.image {
            Image::ContainerDisk(image) => {
                json!({"name": "rootdisk", "containerDisk": {"image": image}})
            }
            Image::Pvc(claim) => {
                json!({"name": "rootdisk", "persistentVolumeClaim": {"claimName": claim}})
            }
            Image::DataSource { .. } => {
                json!({"name": "rootdisk", "dataVolume": {"name": self.root_volume()}})
            }
        };
        let mut volumes = vec![root];
        for claim in &self.data_disks {
            volumes.push(json!({"name": claim, "persistentVolumeClaim": {"claimName": claim}}));
        }
        if self.os == GuestOs::Rhel {
            volumes.push(json!({"name": "cloudinit", "cloudInitNoCloud": {
                "userData": self.user_data(), "networkData": self.network_data()}}));
        }
        volumes
    }

    /// The cloud-config, written by a YAML serializer: a random password of hex digits can
    /// read as a number ("1234e567…", "0123…"), which would drop it, or the whole document.
    fn user_data(&self) -> String {
        let mut doc = serde_json::Map::new();
        if let Some((user, key)) = &self.login {
            doc.insert("user".into(), json!(user));
            doc.insert("ssh_authorized_keys".into(), json!([key]));
        }
        if let Some(password) = &self.console_password {
            // cloud-init cc_set_passwords: the default user's password, not expired (an
            // expired one makes the first console login ask for a new one).
            doc.insert("password".into(), json!(password));
            doc.insert("chpasswd".into(), json!({"expire": false}));
        }
        let yaml = serde_saphyr::to_string(&serde_json::Value::Object(doc)).unwrap_or_default();
        format!("#cloud-config\n{yaml}")
    }

    /// Network data v2: each secondary NIC matched by its MAC, with its static addresses.
    fn network_data(&self) -> String {
        let mut ethernets = serde_json::Map::new();
        let described = self.nics.iter().chain(&self.awaited_nics);
        for nic in described.filter(|n| !n.addresses.is_empty()) {
            let mut eth = json!({"addresses": nic.addresses});
            if let Some(mac) = &nic.mac {
                eth["match"] = json!({"macaddress": mac});
            }
            ethernets.insert(nic.name.clone(), eth);
        }
        let doc = json!({"version": 2, "ethernets": ethernets});
        serde_saphyr::to_string(&doc).unwrap_or_default()
    }

    fn access_credentials(&self) -> Value {
        let user = self
            .login
            .as_ref()
            .map_or("Administrator", |l| l.0.as_str());
        json!([{"sshPublicKey": {"source": {"secret": {"secretName": self.key_secret()}},
            "propagationMethod": {"qemuGuestAgent": {"users": [user]}}}}])
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

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Image {
        Image::ContainerDisk("registry.example/rhel9:latest".into())
    }

    #[test]
    fn a_password_of_digits_stays_a_string_in_the_cloud_config() {
        for password in ["1234567890123456", "1234e56789012345", "0123456789abcdef"] {
            let mut spec =
                VmSpec::rhel("vm-a", image()).with_login("cloud-user", "ssh-ed25519 AAAA k");
            spec.console_password = Some(password.into());
            let text = spec.user_data();
            assert!(text.starts_with("#cloud-config\n"), "{text}");
            let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("valid YAML");
            assert_eq!(doc["password"], json!(password), "{text}");
            assert_eq!(
                doc["ssh_authorized_keys"][0],
                json!("ssh-ed25519 AAAA k"),
                "{text}"
            );
            assert_eq!(doc["chpasswd"]["expire"], json!(false), "{text}");
        }
    }

    #[test]
    fn requested_addresses_are_a_map_from_the_pod_interface_to_bare_addresses() {
        let ip: std::net::IpAddr = "10.100.0.200".parse().unwrap();
        let vm = VmSpec::rhel("vm-a", image())
            .with_pod_nic(Nic::primary_udn())
            .requesting_addresses(&[ip])
            .build();
        let annotations = &vm["spec"]["template"]["metadata"]["annotations"];
        let value = annotations["network.kubevirt.io/addresses"]
            .as_str()
            .unwrap();
        assert_eq!(value, r#"{"default":["10.100.0.200"]}"#);
    }

    #[test]
    fn a_bridge_nic_gets_a_stable_mac_and_its_addresses_by_that_mac() {
        let vm = VmSpec::rhel("vm-a", image())
            .with_nic(Nic::bridge("net1", "vlan10").with_addresses(&["10.200.0.1/24"]))
            .with_login("cloud-user", "ssh-ed25519 AAAA test")
            .build();
        let spec = &vm["spec"]["template"]["spec"];
        let mac = spec["domain"]["devices"]["interfaces"][1]["macAddress"]
            .as_str()
            .unwrap();
        assert_eq!(mac, stable_mac("vm-a", "net1"));
        assert!(mac.starts_with("02:"));
        assert_eq!(spec["networks"][1]["multus"]["networkName"], "vlan10");
        let data = spec["volumes"][1]["cloudInitNoCloud"]["networkData"]
            .as_str()
            .unwrap();
        let data: Value = serde_saphyr::from_str(data).unwrap();
        assert_eq!(data["ethernets"]["net1"]["match"]["macaddress"], mac);
        assert_eq!(data["ethernets"]["net1"]["addresses"][0], "10.200.0.1/24");
        let user = spec["volumes"][1]["cloudInitNoCloud"]["userData"]
            .as_str()
            .unwrap();
        assert!(user.contains("ssh-ed25519 AAAA test"), "{user}");
    }

    #[test]
    fn a_data_source_image_is_cloned_into_a_migratable_data_volume() {
        let image = Image::DataSource {
            name: "rhel9".into(),
            namespace: "openshift-virtualization-os-images".into(),
            size: "30Gi".into(),
            storage_class: Some("ceph-rbd".into()),
        };
        let vm = VmSpec::rhel("vm-a", image).build();
        let dv = &vm["spec"]["dataVolumeTemplates"][0];
        assert_eq!(dv["metadata"]["name"], "vm-a-rootdisk");
        assert_eq!(dv["spec"]["sourceRef"]["name"], "rhel9");
        assert_eq!(dv["spec"]["storage"]["accessModes"][0], "ReadWriteMany");
        assert_eq!(dv["spec"]["storage"]["storageClassName"], "ceph-rbd");
        let root = &vm["spec"]["template"]["spec"]["volumes"][0];
        assert_eq!(root["dataVolume"]["name"], "vm-a-rootdisk");
    }

    #[test]
    fn macs_differ_per_nic_and_per_vm() {
        assert_ne!(stable_mac("a", "net1"), stable_mac("a", "net2"));
        assert_ne!(stable_mac("a", "net1"), stable_mac("b", "net1"));
    }

    #[test]
    fn windows_logs_in_through_access_credentials_and_hotplug_limits_are_set() {
        let vm = VmSpec::windows("win", image())
            .with_cpu(2, 4)
            .with_memory("4Gi", "8Gi")
            .with_login("Administrator", "ssh-ed25519 AAAA")
            .build();
        let spec = &vm["spec"]["template"]["spec"];
        assert_eq!(spec["domain"]["cpu"]["maxSockets"], 4);
        assert_eq!(spec["domain"]["memory"]["maxGuest"], "8Gi");
        assert_eq!(
            spec["accessCredentials"][0]["sshPublicKey"]["source"]["secret"]["secretName"],
            "win-ssh-key"
        );
        assert_eq!(
            vm["spec"]["template"]["metadata"]["annotations"]["vm.kubevirt.io/os"],
            "windows2k22"
        );
    }
}

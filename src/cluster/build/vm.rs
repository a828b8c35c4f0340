//! VirtualMachines from small named options, in the style of KubeVirt's libvmi:
//! `VmSpec::rhel("vm-a").with_nic(Nic::bridge("net1", "vlan10").with_addresses(..)).on_node(..)`.
//! Secondary NICs get a MAC from the run's pool (unique in the run, salted with the run id),
//! and their static addresses are given to cloud-init by that MAC, so the guest's own interface
//! naming never matters.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::bases;
pub use super::mac::MacSource;
pub use super::nic::{Binding, Network, Nic};
use crate::guest::os::GuestOs;

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
    /// Nodes the VM may run on (empty: any), e.g. those a set-up built its bridge on.
    pub nodes: Vec<String>,
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
    /// A VirtualMachineClusterPreference (e.g. common-instancetypes' `windows.2k22`): KubeVirt
    /// fills the VMI with its preferred features, clock, firmware and devices.
    pub preference: Option<String>,
    /// Where secondary NICs without a MAC get theirs.
    pub macs: MacSource,
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
            nodes: Vec::new(),
            labels: BTreeMap::new(),
            eviction: Some("LiveMigrate"),
            login: None,
            console_password: None,
            data_disks: Vec::new(),
            annotations: BTreeMap::new(),
            awaited_nics: Vec::new(),
            preference: None,
            macs: MacSource::default(),
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

    /// Takes the MACs of NICs added from now on from `macs` (the run's pool).
    pub fn with_macs(mut self, macs: MacSource) -> VmSpec {
        self.macs = macs;
        self
    }

    /// Adds a NIC; a secondary NIC without a MAC gets one from the pool.
    pub fn with_nic(mut self, nic: Nic) -> VmSpec {
        let mac = nic.mac.clone().or_else(|| {
            (nic.network != Network::Pod).then(|| self.macs.mac(&self.name, &nic.name))
        });
        self.nics.push(Nic { mac, ..nic });
        self
    }

    /// Replaces the pod NIC, e.g. with [`Nic::primary_udn`]. One that cloud-init configures
    /// (static addresses, or DHCP) gets a MAC from the pool, which its network data matches.
    pub fn with_pod_nic(mut self, nic: Nic) -> VmSpec {
        let configured = !nic.addresses.is_empty() || nic.dhcp4;
        let mac = nic
            .mac
            .clone()
            .or_else(|| configured.then(|| self.macs.mac(&self.name, &nic.name)));
        self.nics.retain(|n| n.network != Network::Pod);
        self.nics.insert(0, Nic { mac, ..nic });
        self
    }

    pub fn on_node(mut self, node: &str) -> VmSpec {
        self.node = Some(node.into());
        self
    }

    /// Keeps the VM, and every migration target, on `nodes`: a required node affinity on
    /// the node names, which KubeVirt copies to each virt-launcher pod.
    pub fn on_nodes(mut self, nodes: &[String]) -> VmSpec {
        self.nodes = nodes.to_vec();
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
            .unwrap_or_else(|| self.macs.mac(&self.name, &nic.name));
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

    /// Names cluster preference `name` in `spec.preference`; KubeVirt applies it to the VMI
    /// (kubevirt v1.9.0 pkg/instancetype/preference/apply/vmi.go `Apply`).
    pub fn with_preference(mut self, name: &str) -> VmSpec {
        self.preference = Some(name.into());
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
        if let Some(name) = &self.preference {
            vm["spec"]["preference"] =
                json!({"kind": "VirtualMachineClusterPreference", "name": name});
        }
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
        if !self.nodes.is_empty() {
            let names = json!({"key": "metadata.name", "operator": "In", "values": self.nodes});
            spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
                json!({"nodeSelectorTerms": [{"matchFields": [names]}]});
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

    /// The DataVolume the root disk is cloned into, for a DataSource image.
    pub fn root_data_volume(&self) -> Option<String> {
        matches!(self.image, Image::DataSource { .. }).then(|| self.root_volume())
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

    /// Network data v2: each NIC cloud-init configures matched by its MAC, with its static
    /// addresses and default route, or on DHCPv4.
    fn network_data(&self) -> String {
        let mut ethernets = serde_json::Map::new();
        let described = self.nics.iter().chain(&self.awaited_nics);
        for nic in described.filter(|n| !n.addresses.is_empty() || n.dhcp4) {
            let mut eth = json!({});
            if !nic.addresses.is_empty() {
                eth["addresses"] = json!(nic.addresses);
            }
            if let Some(gateway) = nic.gateway {
                eth["routes"] = json!([{"to": "default", "via": gateway.to_string()}]);
            }
            if nic.dhcp4 {
                eth["dhcp4"] = json!(true);
            }
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

#[cfg(test)]
#[path = "vm_tests.rs"]
mod tests;

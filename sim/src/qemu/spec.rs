//! What a real guest is started with, read from the VMI as virt-launcher reads it, and the
//! qemu command line that says it.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;

use super::image::BootImage;
use crate::quantity;

const MIB: u64 = 1 << 20;

/// One NIC of the machine, in the VMI's interface order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineNic {
    pub mac: String,
    /// The pod network's NIC: qemu's user network (masquerade's addresses, 10.0.2.2 behind
    /// 10.0.2.1) with the guest's sshd forwarded to the host. Other NICs are ports of the
    /// lane's switch (switch.rs).
    pub pod: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineSpec {
    /// A short unique name (it is part of socket paths, which are short).
    pub id: String,
    /// `namespace/name` of the VMI, for `ps` and qemu's messages.
    pub name: String,
    pub hostname: String,
    pub sockets: u64,
    pub max_sockets: u64,
    pub cores: u64,
    pub threads: u64,
    pub memory_mib: u64,
    /// Above `memory_mib` when memory may be hot-plugged.
    pub max_memory_mib: u64,
    pub nics: Vec<MachineNic>,
    pub user_data: Option<String>,
    pub network_data: Option<String>,
    /// vCPUs plugged after the start (`-device` arguments), which a migration target must
    /// start with for the guest's state to fit it.
    pub plugged_cpus: Vec<String>,
}

/// The socket qemu's end of secondary NIC `i` listens on, in the machine's folder.
pub fn nic_end(i: usize) -> String {
    format!("nic{i}")
}

/// The socket the switch's port for NIC `i` listens on.
pub fn switch_end(i: usize) -> String {
    format!("sw{i}")
}

impl MachineSpec {
    /// The machine a VMI asks for; `guest_bytes` its guest memory as virt-launcher reads it,
    /// `macs` its interfaces' MACs in order, the first on the pod network.
    pub fn of_vmi(
        vmi: &Value,
        guest_bytes: u64,
        macs: &[String],
        user_data: Option<String>,
        network_data: Option<String>,
    ) -> MachineSpec {
        let spec = &vmi["spec"];
        let cpu = &spec["domain"]["cpu"];
        let get = |key: &str| cpu[key].as_u64().unwrap_or(1).max(1);
        let sockets = get("sockets");
        let guest = guest_bytes;
        let max_guest =
            quantity::of(&spec["domain"]["memory"]["maxGuest"]).map_or(guest, |m| m as u64);
        let uid = vmi["metadata"]["uid"].as_str().unwrap_or("vmi");
        MachineSpec {
            id: uid
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(12)
                .collect(),
            name: format!(
                "{}/{}",
                vmi["metadata"]["namespace"].as_str().unwrap_or(""),
                vmi["metadata"]["name"].as_str().unwrap_or("")
            ),
            hostname: spec["hostname"]
                .as_str()
                .or(vmi["metadata"]["name"].as_str())
                .unwrap_or("localhost")
                .to_string(),
            sockets,
            max_sockets: cpu["maxSockets"].as_u64().unwrap_or(sockets).max(sockets),
            cores: get("cores"),
            threads: get("threads"),
            memory_mib: guest / MIB,
            max_memory_mib: max_guest.max(guest) / MIB,
            nics: macs
                .iter()
                .enumerate()
                .map(|(i, mac)| MachineNic {
                    mac: mac.clone(),
                    pod: i == 0,
                })
                .collect(),
            user_data,
            network_data,
            plugged_cpus: Vec::new(),
        }
    }

    /// Writes the cloud-init documents qemu hands the guest (fw_cfg files).
    pub fn write_cloud_init(&self, dir: &Path) -> Result<(), String> {
        let meta = format!(
            "instance-id: {}\nlocal-hostname: {}\n",
            self.id, self.hostname
        );
        let documents = [
            ("meta-data", Some(meta)),
            ("user-data", self.user_data.clone()),
            ("network-data", self.network_data.clone()),
        ];
        for (name, text) in documents {
            if let Some(text) = text {
                std::fs::write(dir.join(name), text)
                    .map_err(|e| format!("{}/{name}: {e}", dir.display()))?;
            }
        }
        Ok(())
    }

    /// qemu's arguments: TCG (this lane's machines have no usable KVM), the VMI's topology
    /// and memory, the NICs, the cloud-init files, and the sockets the simulator listens on
    /// in `dir` (qmp, agent, console).
    pub fn qemu_args(&self, image: &BootImage, dir: &Path, ssh: SocketAddr) -> Vec<String> {
        let path = |name: &str| dir.join(name).display().to_string();
        let per_socket = self.cores * self.threads;
        let mut args: Vec<String> = vec![
            "-name".into(),
            format!("guest={},debug-threads=on", self.name),
            "-machine".into(),
            "q35,accel=tcg".into(),
            "-cpu".into(),
            "qemu64".into(),
            "-smp".into(),
            format!(
                "cpus={},maxcpus={},sockets={},cores={},threads={}",
                self.sockets * per_socket,
                self.max_sockets * per_socket,
                self.max_sockets,
                self.cores,
                self.threads
            ),
            "-m".into(),
            self.memory_arg(),
            "-kernel".into(),
            image.kernel.display().to_string(),
            "-initrd".into(),
            image.initramfs.display().to_string(),
            "-append".into(),
            "console=ttyS0 quiet".into(),
            "-nographic".into(),
            "-nodefaults".into(),
            "-no-user-config".into(),
            "-chardev".into(),
            format!("socket,id=qmp,path={}", path("qmp")),
            "-mon".into(),
            "chardev=qmp,mode=control".into(),
            "-chardev".into(),
            format!("socket,id=serial0,path={}", path("console")),
            "-serial".into(),
            "chardev:serial0".into(),
            "-chardev".into(),
            format!("socket,id=agent,path={}", path("agent")),
            "-device".into(),
            "virtio-serial-pci,id=virtio-serial0".into(),
            "-device".into(),
            "virtserialport,chardev=agent,name=org.qemu.guest_agent.0".into(),
        ];
        for name in ["meta-data", "user-data", "network-data"] {
            if dir.join(name).exists() {
                args.push("-fw_cfg".into());
                args.push(format!("name=opt/io.kubevirt/{name},file={}", path(name)));
            }
        }
        for cpu in &self.plugged_cpus {
            args.extend(["-device".to_string(), cpu.clone()]);
        }
        for (i, nic) in self.nics.iter().enumerate() {
            args.push("-netdev".into());
            args.push(match nic.pod {
                true => format!(
                    "user,id=net{i},net=10.0.2.0/24,host=10.0.2.1,dhcpstart=10.0.2.2,hostfwd=tcp:{ssh}-:22"
                ),
                false => format!(
                    "dgram,id=net{i},local.type=unix,local.path={},remote.type=unix,remote.path={}",
                    path(&nic_end(i)),
                    path(&switch_end(i))
                ),
            });
            args.push("-device".into());
            args.push(format!("virtio-net-pci,netdev=net{i},mac={}", nic.mac));
        }
        args
    }

    fn memory_arg(&self) -> String {
        match self.max_memory_mib > self.memory_mib {
            true => format!(
                "size={}M,slots=16,maxmem={}M",
                self.memory_mib, self.max_memory_mib
            ),
            false => format!("size={}M", self.memory_mib),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vmi() -> Value {
        json!({"metadata": {"namespace": "ns", "name": "vm1", "uid": "0a1b2c3d-4e5f-6789-abcd-ef0123456789"},
               "spec": {"domain": {"cpu": {"sockets": 1, "cores": 1, "threads": 1, "maxSockets": 4},
                                   "memory": {"guest": "1Gi", "maxGuest": "4Gi"}}}})
    }

    #[test]
    fn the_topology_and_memory_follow_the_vmi_with_room_to_hotplug() {
        let macs = vec![
            "02:00:00:00:00:01".to_string(),
            "02:00:00:00:00:02".to_string(),
        ];
        let spec = MachineSpec::of_vmi(&vmi(), 1 << 30, &macs, None, None);
        assert_eq!(spec.id, "0a1b2c3d4e5f");
        assert_eq!((spec.sockets, spec.max_sockets), (1, 4));
        assert_eq!((spec.memory_mib, spec.max_memory_mib), (1024, 4096));
        let image = BootImage {
            kernel: "/k".into(),
            initramfs: "/i".into(),
        };
        let args = spec.qemu_args(
            &image,
            Path::new("/run/m"),
            "127.0.0.1:2222".parse().unwrap(),
        );
        let line = args.join(" ");
        assert!(
            line.contains("-smp cpus=1,maxcpus=4,sockets=4,cores=1,threads=1"),
            "{line}"
        );
        assert!(
            line.contains("-m size=1024M,slots=16,maxmem=4096M"),
            "{line}"
        );
        assert!(line.contains("hostfwd=tcp:127.0.0.1:2222-:22"), "{line}");
        assert!(
            line.contains("virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01"),
            "{line}"
        );
        assert!(
            line.contains("dgram,id=net1,local.type=unix,local.path=/run/m/nic1,remote.type=unix,remote.path=/run/m/sw1"),
            "{line}"
        );
        assert!(
            !line.contains("-fw_cfg"),
            "no cloud-init files were written: {line}"
        );
    }
}

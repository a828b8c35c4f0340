//! What a real guest is started with, read from the VMI as virt-launcher reads it, and the
//! qemu command line that says it.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;

use super::image::BootImage;
use crate::quantity;

const MIB: u64 = 1 << 20;

/// The guest's main RAM backend, named as libvirt names it.
const MAIN_RAM: &str = "pc.ram";

/// The id of the virtio-mem device that hot-plugged memory comes from.
pub const VIRTIO_MEM: &str = "virtiomem0";
/// virtio-mem's block size in KubeVirt's domain: the 2 MiB hotplug alignment (kubevirt
/// pkg/liveupdate/memory/memory.go `HotplugBlockAlignmentBytes`, 0x200000, the block the
/// converter gives the `<memory model='virtio-mem'>` target).
const VIRTIO_MEM_BLOCK: &str = "2M";

/// One NIC of the machine, in the VMI's interface order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineNic {
    pub mac: String,
    /// The pod network's NIC: qemu's user network (masquerade's addresses, 10.0.2.2 behind
    /// 10.0.2.1) with the guest's sshd forwarded to the host. It is restricted: nothing the
    /// guest sends leaves for the machine's own network (whose answers, or lack of them, are
    /// not the cluster's), so an address off the lane goes unanswered. Other NICs are ports of
    /// the lane's switch (switch.rs).
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
    /// Above `memory_mib` when memory may be hot-plugged: the rest is a virtio-mem device's
    /// region, as KubeVirt's domain has it (converter: `<memory model='virtio-mem'>`).
    pub max_memory_mib: u64,
    /// How much of the virtio-mem region is requested (plugged since the start).
    pub plugged_memory_mib: u64,
    pub nics: Vec<MachineNic>,
    pub user_data: Option<String>,
    pub network_data: Option<String>,
    /// vCPUs plugged after the start (`-device` arguments), which a migration target must
    /// start with for the guest's state to fit it.
    pub plugged_cpus: Vec<String>,
    /// Empty PCIe root ports for NICs plugged later (virt-launcher's hotplug ports).
    pub hotplug_ports: usize,
    /// NICs plugged since the start, each in its root port; a migration target starts with
    /// them in the same ports.
    pub plugged_nics: Vec<PluggedNic>,
}

/// A NIC hot-plugged into root port `port` (`hp{port}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluggedNic {
    pub mac: String,
    pub port: usize,
}

impl PluggedNic {
    /// The id of its root port and of its netdev (the device is `{id}nic`).
    pub fn id(&self) -> String {
        root_port(self.port)
    }
}

/// The id of hotplug root port `k`.
pub fn root_port(k: usize) -> String {
    format!("hp{k}")
}

/// The socket qemu's end of secondary NIC `i` (an index, or a root port's id) listens on, in
/// the machine's folder.
pub fn nic_end(i: impl std::fmt::Display) -> String {
    format!("nic{i}")
}

/// The socket the switch's port for NIC `i` listens on.
pub fn switch_end(i: impl std::fmt::Display) -> String {
    format!("sw{i}")
}

/// qemu's dgram netdev `id` between the NIC's end and the switch's, as `-netdev` says it.
fn dgram_netdev(id: &str, dir: &Path, end: &str) -> String {
    format!(
        "dgram,id={id},local.type=unix,local.path={},remote.type=unix,remote.path={}",
        dir.join(nic_end(end)).display(),
        dir.join(switch_end(end)).display()
    )
}

impl MachineSpec {
    /// The machine a VMI asks for; `guest_bytes` its guest memory as virt-launcher reads it,
    /// `macs` its interfaces' MACs in order, the first on the pod network.
    pub fn of_vmi(
        vmi: &Value,
        guest_bytes: u64,
        macs: &[String],
        hotplug_ports: usize,
        cloud_init: (Option<String>, Option<String>),
    ) -> MachineSpec {
        let (user_data, network_data) = cloud_init;
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
            plugged_memory_mib: 0,
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
            hotplug_ports,
            plugged_nics: Vec::new(),
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
            format!("q35,accel=tcg,memory-backend={MAIN_RAM}"),
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
            // Before any other backend, so that the guest's main RAM is qemu's first RAM
            // block (ram_addr 0), as libvirt's command line has it (qemuBuildMemoryBackendProps
            // for "pc.ram"). qemu 10's TCG re-arms dirty tracking after a migration's bitmap
            // sync at the block's offset within itself, not in ram_addr (ram_addr.h
            // `cpu_physical_memory_sync_dirty_bitmap`, fast path): with the virtio-mem backend
            // first, main RAM's stores went untracked, and busy guests died on the target.
            "-object".into(),
            format!("memory-backend-ram,id={MAIN_RAM},size={}M", self.memory_mib),
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
        if self.max_memory_mib > self.memory_mib {
            args.extend([
                "-object".to_string(),
                format!(
                    "memory-backend-ram,id=mem-{VIRTIO_MEM},size={}M",
                    self.max_memory_mib - self.memory_mib
                ),
                "-device".to_string(),
                format!(
                    "virtio-mem-pci,id={VIRTIO_MEM},memdev=mem-{VIRTIO_MEM},block-size={VIRTIO_MEM_BLOCK},requested-size={}M",
                    self.plugged_memory_mib
                ),
            ]);
        }
        for k in 0..self.hotplug_ports {
            args.push("-device".into());
            args.push(format!(
                "pcie-root-port,id={},chassis={}",
                root_port(k),
                k + 1
            ));
        }
        for (i, nic) in self.nics.iter().enumerate() {
            args.push("-netdev".into());
            args.push(match nic.pod {
                true => format!(
                    "user,id=net{i},net=10.0.2.0/24,host=10.0.2.1,dhcpstart=10.0.2.2,restrict=on,hostfwd=tcp:{ssh}-:22"
                ),
                false => dgram_netdev(&format!("net{i}"), dir, &i.to_string()),
            });
            args.push("-device".into());
            args.push(format!("virtio-net-pci,netdev=net{i},mac={}", nic.mac));
        }
        for nic in &self.plugged_nics {
            let id = nic.id();
            args.extend([
                "-netdev".to_string(),
                dgram_netdev(&id, dir, &id),
                "-device".to_string(),
                format!(
                    "virtio-net-pci,id={id}nic,netdev={id},bus={id},mac={}",
                    nic.mac
                ),
            ]);
        }
        args
    }

    /// The first hotplug root port no plugged NIC holds.
    pub fn free_root_port(&self) -> Option<usize> {
        (0..self.hotplug_ports).find(|k| self.plugged_nics.iter().all(|n| n.port != *k))
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
        let mut spec = MachineSpec::of_vmi(&vmi(), 1 << 30, &macs, 2, (None, None));
        spec.plugged_nics.push(PluggedNic {
            mac: "02:00:00:00:00:03".into(),
            port: 1,
        });
        assert_eq!(spec.free_root_port(), Some(0));
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
        assert!(
            line.contains("-object memory-backend-ram,id=mem-virtiomem0,size=3072M -device virtio-mem-pci,id=virtiomem0,memdev=mem-virtiomem0,block-size=2M,requested-size=0M"),
            "{line}"
        );
        let main_ram = line.find("-object memory-backend-ram,id=pc.ram,size=1024M");
        let hotplug_ram = line.find("id=mem-virtiomem0");
        assert!(
            main_ram.is_some() && main_ram < hotplug_ram,
            "main RAM must be qemu's first RAM block: {line}"
        );
        assert!(
            line.contains("q35,accel=tcg,memory-backend=pc.ram"),
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
            line.contains(
                "-device pcie-root-port,id=hp0,chassis=1 -device pcie-root-port,id=hp1,chassis=2"
            ),
            "{line}"
        );
        assert!(
            line.contains("virtio-net-pci,id=hp1nic,netdev=hp1,bus=hp1,mac=02:00:00:00:00:03"),
            "{line}"
        );
        assert!(line.contains("remote.path=/run/m/swhp1"), "{line}");
        assert!(
            !line.contains("-fw_cfg"),
            "no cloud-init files were written: {line}"
        );
    }
}

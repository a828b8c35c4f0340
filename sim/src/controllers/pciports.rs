//! The PCIe root ports a VMI's domain is started with for hot-plugged NICs, as virt-launcher
//! counts them when it defines the domain; a NIC plugged once they are taken fails in libvirt.

use serde_json::Value;

use super::launcher;

/// kubevirt v1.9.0 pkg/virt-launcher/virtwrap/manager.go: hotplugDefaultTotalPorts,
/// hotplugMinRequiredFreePorts, and their large-memory variants above 2 GiB of domain memory.
const DEFAULT_TOTAL: usize = 8;
const MIN_FREE: usize = 3;
const LARGE_MEMORY: u64 = 2 << 30;
const LARGE_TOTAL: usize = 16;
const LARGE_MIN_FREE: usize = 6;

/// The libvirt error virt-launcher's hotplugVirtioInterface returns when AttachDeviceFlags
/// finds no free port, as the cmd server formats it (cmd-server/server.go getErrorMessage,
/// errors.go FormatLibvirtError) and virt-handler's cmd client wraps it (cmd-client/errors.go
/// handleError): the message of the SyncFailed event.
pub const NO_FREE_PORT: &str = "server error. command SyncVMI failed: \"LibvirtError(Code=1, Domain=20, Message='internal error: No more available PCI slots')\"";

/// A domain's ports for hot-plugged NICs: how many it started with, and the NICs it started
/// with (their ports are not hot-pluggable: pci.DisableHotplugOnOccupiedRootPorts).
#[derive(Debug, Clone, Default)]
pub struct Ports {
    pub free_at_boot: usize,
    pub boot_nics: Vec<String>,
}

impl Ports {
    pub fn at_boot(vmi: &Value) -> Ports {
        Ports {
            free_at_boot: free_at_boot(vmi),
            boot_nics: launcher::interfaces(vmi)
                .iter()
                .map(|i| crate::obj::str_at(i, "/name").to_string())
                .collect(),
        }
    }

    /// Ports still free while the domain has the NICs of `networks`: each hot-plugged one
    /// present takes one.
    pub fn free_with(&self, networks: &[String]) -> usize {
        let plugged = networks
            .iter()
            .filter(|n| !self.boot_nics.contains(n))
            .count();
        self.free_at_boot.saturating_sub(plugged)
    }
}

/// Root ports free for hotplug when the domain starts: manager.go allocateHotplugPorts, with
/// calculatePlaceholderCount (v1 without the `kubevirt.io/pci-interface-slot-count`
/// annotation: max(0, 4 - interfaces)) and calculateExtraControllerCount (calculateHotplugPortCountV2
/// less the placeholders), so placeholders + extra controllers = max(placeholders, V2).
pub fn free_at_boot(vmi: &Value) -> usize {
    if obj_annotation(vmi, "kubevirt.io/placePCIDevicesOnRootComplex") == Some("true") {
        return 0;
    }
    let interfaces = launcher::interfaces(vmi).len();
    let placeholders = match obj_annotation(vmi, "kubevirt.io/pci-interface-slot-count")
        .and_then(|t| t.parse::<usize>().ok())
    {
        Some(total) => total.saturating_sub(interfaces),
        None if interfaces == 0 => 0,
        None => 4usize.saturating_sub(interfaces),
    };
    placeholders.max(port_count_v2(&vmi["spec"]))
}

/// manager.go calculateHotplugPortCountV2: max(total - PCI devices in use, minimum free).
fn port_count_v2(spec: &Value) -> usize {
    let (total, min_free) = if launcher::guest_memory(spec) > LARGE_MEMORY {
        (LARGE_TOTAL, LARGE_MIN_FREE)
    } else {
        (DEFAULT_TOTAL, MIN_FREE)
    };
    total.saturating_sub(pci_devices(spec)).max(min_free)
}

/// converter/pci-placement.go CountPCIDevices over the domain the converter makes of `spec`:
/// every interface, PCI host device (GPUs, host devices), controller other than the PCIe root
/// (the USB controller, even of model none; the SCSI controller unless hotplug is disabled,
/// controllers.go requiresSCSIController; virtio-serial unless the serial console is off,
/// requiresVirtioSerialController), virtio disk, virtio input, watchdog, RNG, and the memory
/// balloon (always there, of model none when disabled: balloon.go Configure).
fn pci_devices(spec: &Value) -> usize {
    let devices = &spec["domain"]["devices"];
    let count = |key: &str| devices[key].as_array().map_or(0, Vec::len);
    let interfaces = launcher::interfaces(&serde_json::json!({ "spec": spec })).len();
    let host = count("gpus") + count("hostDevices");
    let scsi = usize::from(devices["disableHotplug"] != true);
    let serial = usize::from(devices["autoattachSerialConsole"] != false);
    let controllers = 1 + scsi + serial;
    let disks = devices["disks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| virtio_disk(d))
        .count()
        + volumes_without_disk(spec);
    let inputs = devices["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["bus"] == "virtio")
        .count();
    let watchdog = usize::from(devices["watchdog"].is_object());
    let rng = usize::from(devices["rng"].is_object());
    let balloon = 1;
    interfaces + host + controllers + disks + inputs + watchdog + rng + balloon
}

/// Volumes with neither a disk nor a filesystem of their name: the VMI defaults give each a
/// plain disk (kubevirt v1.9.0 pkg/util/util.go SetDefaultVolumeDisk), on the virtio bus.
fn volumes_without_disk(spec: &Value) -> usize {
    let devices = &spec["domain"]["devices"];
    let named = |key: &str, name: &Value| {
        devices[key]
            .as_array()
            .is_some_and(|l| l.iter().any(|d| d["name"] == *name))
    };
    let volumes = spec["volumes"].as_array().into_iter().flatten();
    volumes
        .filter(|v| !named("disks", &v["name"]) && !named("filesystems", &v["name"]))
        .count()
}

/// A disk on the virtio bus: a `disk` (virtio unless it names another bus); CD-ROMs (SATA)
/// and LUNs (SCSI) are not, unless they name virtio.
fn virtio_disk(d: &Value) -> bool {
    match (&d["disk"], &d["cdrom"], &d["lun"]) {
        (disk, _, _) if disk.is_object() => disk["bus"].as_str().is_none_or(|b| b == "virtio"),
        (_, cdrom, _) if cdrom.is_object() => cdrom["bus"] == "virtio",
        (_, _, lun) if lun.is_object() => lun["bus"] == "virtio",
        // A disk with no device type is a virtio disk (the VMI defaults).
        _ => true,
    }
}

fn obj_annotation<'a>(vmi: &'a Value, key: &str) -> Option<&'a str> {
    crate::obj::annotation(vmi, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vmi(nics: usize, memory: &str) -> Value {
        let ifaces: Vec<Value> = (0..nics)
            .map(|i| json!({"name": format!("n{i}"), "bridge": {}}))
            .collect();
        json!({"metadata": {}, "spec": {"domain": {"memory": {"guest": memory}, "devices": {
            "interfaces": ifaces,
            "disks": [{"name": "rootdisk", "disk": {"bus": "virtio"}}, {"name": "cloudinitdisk", "disk": {}}]}}}})
    }

    #[test]
    fn ports_follow_every_pci_device_and_the_memory_size() {
        // 1 NIC: 3 placeholders; V2 = max(8 - (1 + 3 controllers + 2 disks + balloon), 3) = 3.
        assert_eq!(free_at_boot(&vmi(1, "1Gi")), 3);
        // A volume without a disk is a virtio disk too: max(16 - (2 + 3 + 3 + 1), 6) = 7.
        let mut more = vmi(2, "4Gi");
        more["spec"]["volumes"] = json!([{"name": "rootdisk"}, {"name": "scratch"}]);
        assert_eq!(free_at_boot(&more), 7);
        // 5 NICs: no placeholder; V2 = max(8 - 11, 3) = 3.
        assert_eq!(free_at_boot(&vmi(5, "1Gi")), 3);
        // Above 2 GiB: max(16 - 11, 6) = 6; with 2 NICs max(16 - 8, 6) = 8.
        assert_eq!(free_at_boot(&vmi(5, "4Gi")), 6);
        assert_eq!(free_at_boot(&vmi(2, "4Gi")), 8);
        let mut root = vmi(1, "1Gi");
        root["metadata"]["annotations"] =
            json!({"kubevirt.io/placePCIDevicesOnRootComplex": "true"});
        assert_eq!(free_at_boot(&root), 0);
    }
}

//! Devices plugged into a running machine, as libvirt plugs them for virt-launcher: vCPUs
//! (setvcpus) and virtio-net NICs into the domain's empty PCIe root ports (attach/detach
//! device: kubevirt v1.9.0 pkg/virt-launcher/virtwrap/network/nichotplug.go
//! hotplugVirtioInterface, hotUnplugVirtioInterface). Each is recorded in the machine's spec,
//! so a migration target starts with it.

use std::time::Duration;

use serde_json::json;

use super::machine::{switch_port, Machine};
use super::spec::PluggedNic;

/// How long the guest may take to let an unplugged NIC go (its PCIe hot-unplug: ACPI, or
/// pciehp's five-second attention-button wait; TCG is slow).
const UNPLUG_BUDGET: Duration = Duration::from_secs(90);

/// How long the guest's virtio-mem driver may take to plug requested memory.
const MEMORY_BUDGET: Duration = Duration::from_secs(120);

/// libvirt's refusal when no root port is free (the message virt-launcher passes on).
const NO_FREE_SLOT: &str = "internal error: No more available PCI slots";

impl Machine {
    /// Plugs vCPUs until the guest has `total` (libvirt's setvcpus on a live domain: one
    /// `device_add` per free slot of `query-hotpluggable-cpus`). The guest onlines them
    /// itself (RHEL's udev rule). Returns how many were plugged.
    pub async fn plug_cpus(&self, total: u64) -> Result<usize, String> {
        let mut qmp = self.qmp.lock().await;
        let slots = qmp.execute("query-hotpluggable-cpus", json!({})).await?;
        let slots = slots.as_array().cloned().unwrap_or_default();
        let count = |s: &serde_json::Value| s["vcpus-count"].as_u64().unwrap_or(1);
        let present: u64 = slots
            .iter()
            .filter(|s| s.get("qom-path").is_some())
            .map(count)
            .sum();
        let mut free: Vec<_> = slots
            .iter()
            .filter(|s| s.get("qom-path").is_none())
            .collect();
        free.sort_by_key(|s| s["props"]["socket-id"].as_u64());
        let (mut now, mut plugged) = (present, 0);
        for slot in free {
            if now >= total {
                break;
            }
            let props = slot["props"].as_object().cloned().unwrap_or_default();
            let id = format!(
                "vcpu{}",
                props.get("socket-id").and_then(|v| v.as_u64()).unwrap_or(0)
            );
            let mut args = json!({"driver": slot["type"], "id": id});
            let mut device = format!("{},id={id}", obj_str(&slot["type"]));
            for (key, value) in props.iter().filter(|(k, _)| k.as_str() != "node-id") {
                args[key] = value.clone();
                device.push_str(&format!(",{key}={value}"));
            }
            qmp.execute("device_add", args).await?;
            self.lock_spec().plugged_cpus.push(device);
            (now, plugged) = (now + count(slot), plugged + 1);
        }
        Ok(plugged)
    }

    /// Brings the guest's memory to `total` bytes (libvirt's update of the virtio-mem device:
    /// its `requested-size`), and waits for the guest driver to plug it
    /// (`MEMORY_DEVICE_SIZE_CHANGE` events until the device's size is the requested one). The
    /// guest onlines the new memory blocks itself (RHEL's udev rule).
    pub async fn plug_memory(&self, total: u64) -> Result<(), String> {
        let spec = self.spec();
        let wanted_mib = (total >> 20).saturating_sub(spec.memory_mib);
        if spec.max_memory_mib <= spec.memory_mib
            || wanted_mib > spec.max_memory_mib - spec.memory_mib
        {
            return Err(format!(
                "{total} bytes is beyond the domain's maximum memory ({} MiB)",
                spec.max_memory_mib
            ));
        }
        let mut qmp = self.qmp.lock().await;
        let path = format!("/machine/peripheral/{}", super::spec::VIRTIO_MEM);
        let wanted = wanted_mib << 20;
        let set = json!({"path": path, "property": "requested-size", "value": wanted});
        qmp.execute("qom-set", set).await?;
        self.lock_spec().plugged_memory_mib = wanted_mib;
        let plugged = async {
            loop {
                let get = json!({"path": path, "property": "size"});
                if qmp.execute("qom-get", get).await?.as_u64() == Some(wanted) {
                    return Ok::<_, String>(());
                }
                qmp.event("MEMORY_DEVICE_SIZE_CHANGE").await?;
            }
        };
        tokio::time::timeout(MEMORY_BUDGET, plugged)
            .await
            .map_err(|_| {
                format!("the guest did not plug {wanted_mib} MiB within {MEMORY_BUDGET:?}")
            })?
    }

    /// Plugs a virtio-net NIC with `mac` into the first free root port, its link on the lane's
    /// switch (qemu's `netdev_add` of a dgram netdev, then `device_add`). The guest configures
    /// it itself (its hotplug handler applies cloud-init's network data for the MAC).
    pub async fn plug_nic(&self, mac: &str) -> Result<(), String> {
        let mut qmp = self.qmp.lock().await;
        let port = self.spec().free_root_port().ok_or(NO_FREE_SLOT)?;
        let nic = PluggedNic {
            mac: mac.to_string(),
            port,
        };
        let id = nic.id();
        let guard = switch_port(&self.switch, &self.dir, &id, mac)?;
        let end = |name: String| json!({"type": "unix", "path": self.dir.join(name)});
        let netdev = json!({"type": "dgram", "id": id,
            "local": end(super::spec::nic_end(&id)), "remote": end(super::spec::switch_end(&id))});
        qmp.execute("netdev_add", netdev).await?;
        let device = json!({"driver": "virtio-net-pci", "id": format!("{id}nic"), "netdev": id, "bus": id, "mac": mac});
        if let Err(why) = qmp.execute("device_add", device).await {
            let _ = qmp.execute("netdev_del", json!({"id": id})).await;
            return Err(why);
        }
        self.lock_ports().insert(id, guard);
        self.lock_spec().plugged_nics.push(nic);
        Ok(())
    }

    /// Unplugs the hot-plugged NIC with `mac`: `device_del`, the guest's release of it
    /// (`DEVICE_DELETED`), then its netdev and switch port. NICs the machine booted with
    /// cannot be unplugged (their ports are not hot-pluggable).
    pub async fn unplug_nic(&self, mac: &str) -> Result<(), String> {
        let spec = self.spec();
        let same = |n: &&PluggedNic| n.mac.eq_ignore_ascii_case(mac);
        let Some(nic) = spec.plugged_nics.iter().find(same) else {
            return Err(format!("{mac} is not a hot-plugged NIC of the domain"));
        };
        let id = nic.id();
        let device = format!("{id}nic");
        let mut qmp = self.qmp.lock().await;
        qmp.execute("device_del", json!({"id": device})).await?;
        let released = async {
            loop {
                let event = qmp.event("DEVICE_DELETED").await?;
                if event["data"]["device"] == device.as_str() {
                    return Ok::<_, String>(());
                }
            }
        };
        tokio::time::timeout(UNPLUG_BUDGET, released)
            .await
            .map_err(|_| {
                format!("the guest did not release {device} within {UNPLUG_BUDGET:?}")
            })??;
        qmp.execute("netdev_del", json!({"id": id})).await?;
        self.lock_ports().remove(&id);
        self.lock_spec().plugged_nics.retain(|n| n.port != nic.port);
        Ok(())
    }

    fn lock_spec(&self) -> std::sync::MutexGuard<'_, super::MachineSpec> {
        self.spec.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_ports(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, super::switch::PortGuard>>
    {
        self.ports.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn obj_str(value: &serde_json::Value) -> &str {
    value.as_str().unwrap_or_default()
}

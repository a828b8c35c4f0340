//! The VirtualMachineInstance as a scenario reads it: the parts of `kubevirt.io/v1` the STPs
//! assert on, typed (field names as in KubeVirt's `VirtualMachineInstanceStatus`). Unknown
//! fields are ignored, missing ones are empty, so a VMI from any KubeVirt version reads.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

/// One VMI, as read at one moment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Vmi {
    pub metadata: Meta,
    pub spec: VmiSpec,
    pub status: VmiStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Meta {
    pub name: String,
    pub uid: String,
    pub resource_version: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VmiSpec {
    pub networks: Vec<NetworkSpec>,
    pub domain: DomainSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DomainSpec {
    pub devices: Devices,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Devices {
    pub interfaces: Vec<InterfaceSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct InterfaceSpec {
    pub name: String,
    /// `absent` while a hot-unplug is under way.
    pub state: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NetworkSpec {
    pub name: String,
    pub multus: Option<Multus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Multus {
    pub network_name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VmiStatus {
    pub phase: String,
    pub node_name: String,
    pub conditions: Vec<Condition>,
    pub migration_state: Option<MigrationState>,
    pub interfaces: Vec<InterfaceStatus>,
    #[serde(rename = "currentCPUTopology")]
    pub current_cpu_topology: Option<CpuTopology>,
    pub memory: Option<MemoryStatus>,
}

/// A condition of a VM or VMI (`type`, `status`, `reason`, `message`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl Condition {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// How a live migration moved the guest's memory (`MigrationMode` in KubeVirt's API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MigrationMode {
    PreCopy,
    PostCopy,
    /// Paused to converge: the AllowWorkloadDisruption policy without post-copy.
    Paused,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MigrationState {
    pub migration_uid: String,
    pub mode: Option<MigrationMode>,
    pub completed: bool,
    pub failed: bool,
    pub failure_reason: String,
    pub start_timestamp: Option<String>,
    pub end_timestamp: Option<String>,
    pub source_node: String,
    pub target_node: String,
    pub migration_policy_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct InterfaceStatus {
    pub name: String,
    pub mac: Option<String>,
    pub ip_address: Option<String>,
    pub pod_interface_name: Option<String>,
    /// Where KubeVirt learnt of the interface: `domain`, `guest-agent`, `multus-status`, joined
    /// with `, `.
    pub info_source: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CpuTopology {
    pub sockets: u32,
    pub cores: u32,
    pub threads: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MemoryStatus {
    pub guest_at_boot: Option<String>,
    pub guest_current: Option<String>,
    pub guest_requested: Option<String>,
}

impl Vmi {
    /// Reads a VMI object; a shape that is not a VMI at all is an error naming what it got.
    pub fn from_value(object: &Value) -> anyhow::Result<Vmi> {
        Vmi::deserialize(object).map_err(|e| {
            let shown: String = object.to_string().chars().take(300).collect();
            anyhow::anyhow!("cannot read a VirtualMachineInstance from {shown}: {e}")
        })
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn node(&self) -> &str {
        &self.status.node_name
    }

    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.status.conditions.iter().find(|c| c.kind == kind)
    }

    /// The NAD the spec names for network `network`.
    pub fn network_of(&self, network: &str) -> Option<&str> {
        let found = self.spec.networks.iter().find(|n| n.name == network)?;
        Some(found.multus.as_ref()?.network_name.as_str())
    }

    /// Whether the spec has interface `name`.
    pub fn has_interface(&self, name: &str) -> bool {
        self.spec
            .domain
            .devices
            .interfaces
            .iter()
            .any(|i| i.name == name)
    }

    pub fn interface(&self, name: &str) -> Option<&InterfaceStatus> {
        self.status.interfaces.iter().find(|i| i.name == name)
    }

    /// The MAC the status reports for interface `name`, lower-case.
    pub fn mac_of(&self, name: &str) -> Option<String> {
        Some(self.interface(name)?.mac.as_ref()?.to_lowercase())
    }

    /// The address the status reports for interface `name`.
    pub fn ip_of(&self, name: &str) -> Option<IpAddr> {
        self.interface(name)?.ip_address.as_ref()?.parse().ok()
    }

    /// The migration state, if it describes migration `uid`.
    pub fn migration(&self, uid: &str) -> Option<&MigrationState> {
        let state = self.status.migration_state.as_ref()?;
        (state.migration_uid == uid).then_some(state)
    }

    pub fn sockets(&self) -> Option<u32> {
        Some(self.status.current_cpu_topology?.sockets)
    }

    /// `status.memory.guestCurrent` in bytes.
    pub fn guest_memory_current(&self) -> Option<u64> {
        bytes(self.status.memory.as_ref()?.guest_current.as_deref()?)
    }
}

/// A Kubernetes binary quantity (`4Gi`, `512Mi`, `1073741824`) in bytes; `None` for anything
/// else (decimal suffixes never appear in KubeVirt's memory status).
pub fn bytes(quantity: &str) -> Option<u64> {
    let units = [("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40)];
    for (suffix, shift) in units {
        if let Some(n) = quantity.strip_suffix(suffix) {
            return n.parse::<u64>().ok()?.checked_shl(shift);
        }
    }
    quantity.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_vmi_reads_with_its_migration_interfaces_and_memory() {
        let vmi = Vmi::from_value(&json!({
            "metadata": {"name": "vm-a", "uid": "u1", "resourceVersion": "7"},
            "spec": {"networks": [{"name": "net1", "multus": {"networkName": "vlan20"}}],
                     "domain": {"devices": {"interfaces": [{"name": "net1"}]}}},
            "status": {"nodeName": "worker-1", "phase": "Running",
                "conditions": [{"type": "AgentConnected", "status": "True"}],
                "migrationState": {"migrationUid": "m1", "mode": "PostCopy", "completed": true},
                "interfaces": [{"name": "net1", "mac": "02:AB:00:00:00:01", "infoSource": "domain"}],
                "currentCPUTopology": {"sockets": 2, "cores": 1, "threads": 1},
                "memory": {"guestCurrent": "4Gi"}}
        }))
        .unwrap();
        assert_eq!(vmi.network_of("net1"), Some("vlan20"));
        assert_eq!(vmi.mac_of("net1").as_deref(), Some("02:ab:00:00:00:01"));
        assert_eq!(
            vmi.migration("m1").and_then(|m| m.mode),
            Some(MigrationMode::PostCopy)
        );
        assert!(vmi.migration("other").is_none());
        assert_eq!(vmi.sockets(), Some(2));
        assert_eq!(vmi.guest_memory_current(), Some(4 << 30));
        assert!(vmi
            .condition("AgentConnected")
            .is_some_and(Condition::is_true));
    }

    #[test]
    fn quantities_read_in_binary_units_and_refuse_the_rest() {
        assert_eq!(bytes("512Mi"), Some(512 << 20));
        assert_eq!(bytes("1073741824"), Some(1 << 30));
        assert_eq!(bytes("2G"), None);
        assert_eq!(bytes("lots"), None);
    }
}

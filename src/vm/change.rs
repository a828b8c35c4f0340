//! The changes a user makes to a running VM, typed, and the merge patch of the VM that makes
//! each one (as `oc edit` would: lists are replaced whole, so each patch starts from the VM as
//! it is).

use std::fmt;

use serde_json::{json, Value};

use crate::cluster::build::Nic;

#[derive(Debug, Clone)]
pub enum Change {
    /// Points the named networks at other NADs (network name, NAD): the live NAD reference
    /// update.
    Networks(Vec<(String, String)>),
    /// Sets the CPU sockets (CPU hotplug, up to the VM's maxSockets).
    CpuSockets(u32),
    /// Sets the guest memory, a quantity such as `4Gi` (memory hotplug, up to maxGuest).
    GuestMemory(String),
    /// Appends interfaces and their networks (NIC hotplug).
    AddInterfaces(Vec<Nic>),
    /// Marks an interface `state: absent` (NIC hot-unplug).
    RemoveInterface(String),
}

impl Change {
    /// `Networks` from (network, NAD) pairs.
    pub fn networks<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Change {
        Change::Networks(
            pairs
                .into_iter()
                .map(|(n, nad)| (n.to_string(), nad.to_string()))
                .collect(),
        )
    }

    /// The merge patch that makes this change to `vm`, the VM object as it is now.
    pub fn patch(&self, vm: &Value) -> anyhow::Result<Value> {
        let template = &vm["spec"]["template"]["spec"];
        let name = vm["metadata"]["name"].as_str().unwrap_or("the VM");
        let spec = match self {
            Change::Networks(pairs) => json!({"networks": renamed(template, pairs, name)?}),
            Change::CpuSockets(n) => json!({"domain": {"cpu": {"sockets": n}}}),
            Change::GuestMemory(q) => json!({"domain": {"memory": {"guest": q}}}),
            Change::AddInterfaces(nics) => added(template, nics),
            Change::RemoveInterface(iface) => {
                json!({"domain": {"devices": {"interfaces": absent(template, iface, name)?}}})
            }
        };
        Ok(json!({"spec": {"template": {"spec": spec}}}))
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Networks(pairs) => {
                let moves: Vec<String> = pairs
                    .iter()
                    .map(|(n, nad)| format!("{n} → {nad}"))
                    .collect();
                write!(f, "networks {}", moves.join(", "))
            }
            Change::CpuSockets(n) => write!(f, "CPU sockets to {n}"),
            Change::GuestMemory(q) => write!(f, "guest memory to {q}"),
            Change::AddInterfaces(nics) => {
                let names: Vec<&str> = nics.iter().map(|n| n.name.as_str()).collect();
                write!(f, "hot-plug {}", names.join(", "))
            }
            Change::RemoveInterface(name) => write!(f, "unplug {name} (state: absent)"),
        }
    }
}

fn list(template: &Value, path: &[&str]) -> Vec<Value> {
    let mut at = template;
    for key in path {
        at = &at[*key];
    }
    at.as_array().cloned().unwrap_or_default()
}

fn renamed(template: &Value, pairs: &[(String, String)], vm: &str) -> anyhow::Result<Vec<Value>> {
    let mut networks = list(template, &["networks"]);
    for (network, nad) in pairs {
        let entry = networks
            .iter_mut()
            .find(|n| n["name"] == network.as_str())
            .ok_or_else(|| anyhow::anyhow!("{vm} has no network {network} to point at {nad}"))?;
        entry["multus"]["networkName"] = json!(nad);
    }
    Ok(networks)
}

fn added(template: &Value, nics: &[Nic]) -> Value {
    let mut interfaces = list(template, &["domain", "devices", "interfaces"]);
    let mut networks = list(template, &["networks"]);
    for nic in nics {
        interfaces.push(nic.interface());
        networks.push(nic.network());
    }
    json!({"domain": {"devices": {"interfaces": interfaces}}, "networks": networks})
}

fn absent(template: &Value, iface: &str, vm: &str) -> anyhow::Result<Vec<Value>> {
    let mut interfaces = list(template, &["domain", "devices", "interfaces"]);
    let entry = interfaces
        .iter_mut()
        .find(|i| i["name"] == iface)
        .ok_or_else(|| anyhow::anyhow!("{vm} has no interface {iface} to unplug"))?;
    entry["state"] = json!("absent");
    Ok(interfaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> Value {
        json!({"metadata": {"name": "vm-a"}, "spec": {"template": {"spec": {
            "domain": {"devices": {"interfaces": [{"name": "default"}, {"name": "net1", "bridge": {}}]}},
            "networks": [{"name": "default", "pod": {}},
                         {"name": "net1", "multus": {"networkName": "vlan10"}}]}}}})
    }

    #[test]
    fn a_network_swap_keeps_the_other_networks_and_names_a_missing_one() {
        let patch = Change::networks([("net1", "vlan20")]).patch(&vm()).unwrap();
        let networks = &patch["spec"]["template"]["spec"]["networks"];
        assert_eq!(networks[0]["name"], "default");
        assert_eq!(networks[1]["multus"]["networkName"], "vlan20");
        let error = Change::networks([("net9", "vlan20")])
            .patch(&vm())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "vm-a has no network net9 to point at vlan20"
        );
    }

    #[test]
    fn an_unplug_marks_only_its_interface_absent() {
        let patch = Change::RemoveInterface("net1".into()).patch(&vm()).unwrap();
        let ifaces = &patch["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"];
        assert_eq!(ifaces[0], json!({"name": "default"}));
        assert_eq!(ifaces[1]["state"], "absent");
        assert!(Change::RemoveInterface("hot9".into()).patch(&vm()).is_err());
    }

    #[test]
    fn sizes_patch_the_domain() {
        let cpu = Change::CpuSockets(2).patch(&vm()).unwrap();
        assert_eq!(
            cpu["spec"]["template"]["spec"]["domain"]["cpu"]["sockets"],
            2
        );
        let memory = Change::GuestMemory("4Gi".into()).patch(&vm()).unwrap();
        assert_eq!(
            memory["spec"]["template"]["spec"]["domain"]["memory"]["guest"],
            "4Gi"
        );
    }
}

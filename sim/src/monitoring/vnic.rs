//! virt-controller's vNIC info metrics, as kubevirt/kubevirt pkg/monitoring/metrics/
//! virt-controller collects them on every scrape from its informers' caches:
//! `kubevirt_vmi_vnic_info` (vmistats_collector.go CollectVmisVnicInfo, one series per
//! interface of every VMI in the cache) and `kubevirt_vm_vnic_info` (vmstats_collector.go
//! CollectVmsVnicInfo, one per interface of every VM's template).
//!
//! The `network` label is read from the *spec*: the network the interface's name refers to,
//! `pod networking` for the pod network, else the Multus `networkName` (getNetworkName). So
//! after a live NAD swap the VM series follows the template at once, and the VMI series as
//! soon as the VM controller has synced the new NAD into the VMI spec (pkg/network/controllers
//! vm.go syncVMIInterfaces) — before the migration that moves the guest, not after it.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::obj;

pub const VMI_VNIC_INFO: &str = "kubevirt_vmi_vnic_info";
pub const VM_VNIC_INFO: &str = "kubevirt_vm_vnic_info";

/// The help texts of vmistats_collector.go vmiVnicInfo and vmstats_collector.go vmVnicInfo.
pub const VMI_VNIC_HELP: &str = "Details of VirtualMachineInstance (VMI) vNIC interfaces, such as \
    vNIC name, binding type, network name, and binding name for each vNIC of a running instance.";
pub const VM_VNIC_HELP: &str = "Details of Virtual Machine (VM) vNIC interfaces, such as vNIC \
    name, binding type, network name, and binding name for each vNIC defined in the VM's \
    configuration.";

/// Label names, in upstream's order (the same for both metrics).
pub const LABELS: [&str; 7] = [
    "name",
    "namespace",
    "vnic_name",
    "binding_type",
    "network",
    "binding_name",
    "model",
];

/// One series of a vNIC info gauge (its value is always 1).
pub type Series = Vec<(String, String)>;

/// Collects the vNIC series; with `stale` (the `vnic-metric-stale` regression) the network
/// label an interface was first reported with is reported for as long as the object lives.
#[derive(Default)]
pub struct VnicCollector {
    stale: Option<Mutex<HashMap<(String, String), String>>>,
}

impl VnicCollector {
    pub fn new(stale: bool) -> VnicCollector {
        VnicCollector {
            stale: stale.then(Mutex::default),
        }
    }

    /// CollectVmisVnicInfo for each VMI.
    pub fn vmis(&self, vmis: &[std::sync::Arc<Value>]) -> Vec<Series> {
        vmis.iter()
            .flat_map(|vmi| self.of_spec(vmi, &vmi["spec"]))
            .collect()
    }

    /// CollectVmsVnicInfo for each VM (one without a template or interfaces has none).
    pub fn vms(&self, vms: &[std::sync::Arc<Value>]) -> Vec<Series> {
        vms.iter()
            .flat_map(|vm| self.of_spec(vm, &vm["spec"]["template"]["spec"]))
            .collect()
    }

    /// Whether the `vnic-metric-stale` regression is on (and so wants every change seen).
    pub fn is_stale(&self) -> bool {
        self.stale.is_some()
    }

    /// Records the networks of a VM or VMI as it was written, so that the regression keeps
    /// the first one even when it changed before any scrape.
    pub fn observe(&self, kind: crate::kinds::KindId, object: &Value) {
        match kind {
            crate::kinds::VMIS => drop(self.of_spec(object, &object["spec"])),
            crate::kinds::VMS => drop(self.of_spec(object, &object["spec"]["template"]["spec"])),
            _ => {}
        }
    }

    fn of_spec(&self, object: &Value, spec: &Value) -> Vec<Series> {
        let interfaces = spec["domain"]["devices"]["interfaces"].as_array();
        let networks = spec["networks"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut out = Vec::new();
        for iface in interfaces.into_iter().flatten() {
            let vnic = iface["name"].as_str().unwrap_or("");
            let Some(network) = network_name(vnic, networks) else {
                continue;
            };
            let network = self.reported(obj::uid(object), vnic, network);
            let (binding_type, binding_name) = binding(iface);
            // vmistats_collector.go modelNone for an interface without a model.
            let model = iface["model"].as_str().filter(|m| !m.is_empty());
            let values = [
                obj::name(object),
                obj::namespace(object),
                vnic,
                binding_type,
                &network,
                &binding_name,
                model.unwrap_or("<none>"),
            ];
            let series = LABELS.iter().zip(values);
            out.push(
                series
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            );
        }
        out
    }

    /// The network label to report: the spec's, or under the regression the first one seen.
    fn reported(&self, uid: &str, vnic: &str, network: String) -> String {
        let Some(first_seen) = &self.stale else {
            return network;
        };
        let mut first_seen = first_seen.lock().unwrap_or_else(|e| e.into_inner());
        let key = (uid.to_string(), vnic.to_string());
        first_seen.entry(key).or_insert(network).clone()
    }
}

/// vmstats_collector.go getBinding: masquerade, bridge and SR-IOV are `core` bindings; a
/// network binding plugin is a `plugin` binding named after it; anything else reports empty.
fn binding(iface: &Value) -> (&'static str, String) {
    for core in ["masquerade", "bridge", "sriov"] {
        if iface[core].is_object() {
            return ("core", core.to_string());
        }
    }
    match iface["binding"]["name"].as_str() {
        Some(plugin) if iface["binding"].is_object() => ("plugin", plugin.to_string()),
        _ => ("", String::new()),
    }
}

/// vmstats_collector.go getNetworkName: the network named like the interface; `pod
/// networking` for the pod network, the Multus NAD reference as written otherwise. An
/// interface without a network, or on another kind of network, has no series.
fn network_name(vnic: &str, networks: &[Value]) -> Option<String> {
    let network = networks.iter().find(|n| n["name"] == vnic)?;
    if network["pod"].is_object() {
        return Some("pod networking".to_string());
    }
    let multus = &network["multus"];
    multus
        .is_object()
        .then(|| multus["networkName"].as_str().unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn vmi(nad: &str) -> Arc<Value> {
        Arc::new(json!({
            "metadata": {"name": "vm-a", "namespace": "ns", "uid": "u1"},
            "spec": {
                "domain": {"devices": {"interfaces": [
                    {"name": "default", "masquerade": {}},
                    {"name": "net1", "bridge": {}, "model": "virtio"},
                    {"name": "orphan", "bridge": {}},
                ]}},
                "networks": [{"name": "default", "pod": {}},
                             {"name": "net1", "multus": {"networkName": nad}}],
            }
        }))
    }

    fn label<'a>(series: &'a Series, name: &str) -> &'a str {
        &series.iter().find(|(k, _)| k == name).unwrap().1
    }

    #[test]
    fn each_interface_with_a_network_has_a_series_with_upstreams_labels() {
        let series = VnicCollector::new(false).vmis(&[vmi("vlan-a")]);
        assert_eq!(
            series.len(),
            2,
            "the interface without a network has none: {series:?}"
        );
        let names: Vec<&str> = series[1].iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, LABELS);
        assert_eq!(label(&series[0], "network"), "pod networking");
        assert_eq!(label(&series[0], "binding_name"), "masquerade");
        assert_eq!(label(&series[0], "model"), "<none>");
        assert_eq!(label(&series[1], "network"), "vlan-a");
        assert_eq!(label(&series[1], "binding_type"), "core");
        assert_eq!(label(&series[1], "model"), "virtio");
    }

    #[test]
    fn the_network_follows_the_spec_unless_the_regression_keeps_the_first() {
        let faithful = VnicCollector::new(false);
        faithful.vmis(&[vmi("vlan-a")]);
        assert_eq!(
            label(&faithful.vmis(&[vmi("vlan-b")])[1], "network"),
            "vlan-b"
        );
        let stale = VnicCollector::new(true);
        stale.vmis(&[vmi("vlan-a")]);
        assert_eq!(label(&stale.vmis(&[vmi("vlan-b")])[1], "network"), "vlan-a");
    }

    #[test]
    fn a_vm_reports_its_templates_interfaces() {
        let vm = Arc::new(
            json!({"metadata": {"name": "vm-a", "namespace": "ns", "uid": "u2"},
            "spec": {"template": {"spec": vmi("vlan-c")["spec"].clone()}}}),
        );
        let series = VnicCollector::new(false).vms(&[vm, Arc::new(json!({"metadata": {}}))]);
        assert_eq!(series.len(), 2);
        assert_eq!(label(&series[1], "network"), "vlan-c");
    }
}

//! The VM controller's network synchronizer: on every sync of a VM with a VMI, bridge and
//! SR-IOV interfaces added to the template reach the VMI spec, interface states and NAD
//! references follow the template, unplugged interfaces leave the VMI and then the VM; and
//! whether a network change of the template needs a restart.
//!
//! Neither migratability nor RestartRequired gates the synchronizer: whether the change then
//! reaches the guest is the migration's business.

use serde_json::Value;

use crate::obj;

fn list(spec: &Value, pointer: &str) -> Vec<Value> {
    spec.pointer(pointer)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn interfaces(spec: &Value) -> Vec<Value> {
    list(spec, "/domain/devices/interfaces")
}

fn networks(spec: &Value) -> Vec<Value> {
    list(spec, "/networks")
}

fn by_name<'a>(items: &'a [Value], name: &Value) -> Option<&'a Value> {
    items.iter().find(|i| i["name"] == *name)
}

fn absent(iface: &Value) -> bool {
    iface["state"] == "absent"
}

/// kubevirt/kubevirt pkg/network/vmliveupdate/restart.go IsRestartRequired (v1.9.0): an
/// interface or network of the VMI gone from the template (not through `state: absent`), an
/// interface changed other than in its state, a network changed other than in its NAD name,
/// or a pod network added.
pub fn restart_required(template: &Value, vmi_spec: &Value) -> bool {
    let (desired_ifaces, current_ifaces) = (interfaces(template), interfaces(vmi_spec));
    let (desired_nets, current_nets) = (networks(template), networks(vmi_spec));
    let without_state = |i: &Value| {
        let mut i = i.clone();
        obj::remove_field(&mut i, "", "state");
        i
    };
    let ifaces_changed = current_ifaces.iter().any(|c| {
        by_name(&desired_ifaces, &c["name"]).is_none_or(|d| without_state(d) != without_state(c))
    });
    let has_pod = |nets: &[Value]| nets.iter().any(|n| n["pod"].is_object());
    let without_nad = |n: &Value| {
        let mut n = n.clone();
        if n["multus"].is_object() {
            n["multus"]["networkName"] = Value::String(String::new());
        }
        n
    };
    let nets_changed = current_nets.iter().any(|c| {
        by_name(&desired_nets, &c["name"]).is_none_or(|d| without_nad(d) != without_nad(c))
    });
    ifaces_changed || nets_changed || (has_pod(&desired_nets) && !has_pod(&current_nets))
}

/// The VMI spec's interfaces and networks once synced with the template (kubevirt/kubevirt
/// pkg/network/controllers/vm.go syncVMIInterfaces, v1.9.0): applyDynamicIfaceRequestOnVMI,
/// clearDetachedIfacesFromVMI, then syncNetworks. `shown` names the VMI's status interfaces.
pub fn synced_vmi(template: &Value, vmi_spec: &Value, shown: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let (vm_ifaces, vm_nets) = (interfaces(template), networks(template));
    let (mut ifaces, mut nets) = (interfaces(vmi_spec), networks(vmi_spec));
    for vm_iface in &vm_ifaces {
        match ifaces.iter_mut().find(|i| i["name"] == vm_iface["name"]) {
            None if !absent(vm_iface)
                && (vm_iface["bridge"].is_object() || vm_iface["sriov"].is_object()) =>
            {
                nets.extend(by_name(&vm_nets, &vm_iface["name"]).cloned());
                ifaces.push(vm_iface.clone());
            }
            Some(i) if i["state"] != vm_iface["state"] && !absent(i) => {
                i["state"] = vm_iface["state"].clone();
                if i["state"].is_null() {
                    obj::remove_field(i, "", "state");
                }
            }
            _ => {}
        }
    }
    ifaces.retain(|i| !absent(i) || i["name"].as_str().is_some_and(|n| shown.contains(&n)));
    retain_networks_of(&mut nets, &ifaces);
    for net in nets.iter_mut().filter(|n| n["multus"].is_object()) {
        if let Some(vm_net) = by_name(&vm_nets, &net["name"]).filter(|n| n["multus"].is_object()) {
            net["multus"]["networkName"] = vm_net["multus"]["networkName"].clone();
        }
    }
    (ifaces, nets)
}

/// The template's interfaces and networks without the unplugged ones the VMI no longer has in
/// spec or status (kubevirt/kubevirt pkg/network/controllers/vm.go clearDetachedIfacesFromVM,
/// v1.9.0).
pub fn cleared_template(
    template: &Value,
    vmi_ifaces: &[Value],
    shown: &[&str],
) -> (Vec<Value>, Vec<Value>) {
    let mut ifaces = interfaces(template);
    ifaces.retain(|i| {
        let name = i["name"].as_str().unwrap_or("");
        !absent(i) || by_name(vmi_ifaces, &i["name"]).is_some() || shown.contains(&name)
    });
    let mut nets = networks(template);
    retain_networks_of(&mut nets, &ifaces);
    (ifaces, nets)
}

/// vmispec.FilterNetworksByInterfaces: the networks some interface uses.
fn retain_networks_of(nets: &mut Vec<Value>, ifaces: &[Value]) {
    nets.retain(|n| by_name(ifaces, &n["name"]).is_some());
}

/// Writes `ifaces` and `nets` into a VMI spec or template spec; whether they changed.
pub fn put(spec: &mut Value, ifaces: Vec<Value>, nets: Vec<Value>) -> bool {
    if interfaces(spec) == ifaces && networks(spec) == nets {
        return false;
    }
    obj::ensure(spec, "/domain/devices")["interfaces"] = Value::Array(ifaces);
    spec["networks"] = Value::Array(nets);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(ifaces: Value, nets: Value) -> Value {
        json!({"domain": {"devices": {"interfaces": ifaces}}, "networks": nets})
    }

    fn base() -> Value {
        spec(
            json!([{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}}]),
            json!([{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": "vlan10"}}]),
        )
    }

    #[test]
    fn a_nad_swap_and_a_bridge_nic_reach_the_vmi_and_need_no_restart() {
        let mut template = base();
        template["networks"][1]["multus"]["networkName"] = json!("vlan20");
        template["domain"]["devices"]["interfaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "iface2", "bridge": {}, "macAddress": "02:00:00:00:00:02"}));
        template["networks"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "iface2", "multus": {"networkName": "vlan30"}}));
        assert!(!restart_required(&template, &base()));
        let (ifaces, nets) = synced_vmi(&template, &base(), &["default", "net1"]);
        assert_eq!(ifaces[2]["macAddress"], "02:00:00:00:00:02");
        assert_eq!(nets[1]["multus"]["networkName"], "vlan20");
        assert_eq!(nets[2]["multus"]["networkName"], "vlan30");
    }

    #[test]
    fn a_masquerade_nic_is_not_hotplugged_and_needs_no_restart() {
        let mut template = base();
        template["domain"]["devices"]["interfaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "iface2", "masquerade": {}}));
        assert!(!restart_required(&template, &base()));
        let (ifaces, _) = synced_vmi(&template, &base(), &[]);
        assert_eq!(ifaces.len(), 2);
    }

    #[test]
    fn removing_or_changing_a_vmi_interface_needs_a_restart() {
        let removed = spec(
            json!([{"name": "default", "masquerade": {}}]),
            json!([{"name": "default", "pod": {}}]),
        );
        assert!(restart_required(&removed, &base()));
        let mut rebound = base();
        rebound["domain"]["devices"]["interfaces"][1] = json!({"name": "net1", "sriov": {}});
        assert!(restart_required(&rebound, &base()));
        let mut renamed = base();
        renamed["networks"][1] = json!({"name": "net1", "pod": {}});
        assert!(restart_required(&renamed, &base()));
    }

    #[test]
    fn an_unplug_is_absent_in_the_vmi_until_the_status_lets_it_go() {
        let mut template = base();
        template["domain"]["devices"]["interfaces"][1]["state"] = json!("absent");
        assert!(!restart_required(&template, &base()));
        let (ifaces, nets) = synced_vmi(&template, &base(), &["default", "net1"]);
        assert_eq!(ifaces[1]["state"], "absent");
        assert_eq!(nets.len(), 2);
        let mut vmi = base();
        put(&mut vmi, ifaces, nets);
        let (ifaces, nets) = synced_vmi(&template, &vmi, &["default"]);
        assert_eq!((ifaces.len(), nets.len()), (1, 1));
        let (ifaces, nets) = cleared_template(&template, &ifaces, &["default"]);
        assert_eq!((ifaces.len(), nets.len()), (1, 1));
    }
}

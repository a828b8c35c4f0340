//! KubeVirt's network admitter, as far as the simulation needs it: interface states and the
//! masquerade binding (kubevirt v1.9.0 pkg/network/admitter), run by the VM and VMI webhooks.

use serde_json::Value;

use crate::error::Cause;

const STATES: [&str; 3] = ["absent", "down", "up"];

/// The causes of pkg/network/admitter Validator.Validate this simulation checks, in its order,
/// for the VMI spec at `field` (e.g. `spec.template.spec`).
pub fn causes(field: &str, spec: &Value) -> Vec<Cause> {
    let ifaces = spec["domain"]["devices"]["interfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut causes = Vec::new();
    for (idx, iface) in ifaces.iter().enumerate() {
        let at = format!("{field}.domain.devices.interfaces[{idx}]");
        causes.extend(state_causes(&at, iface, spec));
    }
    for (idx, iface) in ifaces.iter().enumerate() {
        let at = format!("{field}.domain.devices.interfaces[{idx}]");
        causes.extend(masquerade_cause(&at, iface, spec));
    }
    causes
}

fn network<'a>(spec: &'a Value, name: &Value) -> Option<&'a Value> {
    spec["networks"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == *name)
}

/// vmispec.LookUpDefaultNetwork: the pod network, or a Multus network marked default.
fn is_default_network(spec: &Value, name: &Value) -> bool {
    network(spec, name).is_some_and(|n| n["pod"].is_object() || n["multus"]["default"] == true)
}

/// kubevirt v1.9.0 pkg/network/admitter/admit.go validateInterfaceStateValue.
fn state_causes(at: &str, iface: &Value, spec: &Value) -> Vec<Cause> {
    let Some(state) = iface["state"].as_str().filter(|s| !s.is_empty()) else {
        return Vec::new();
    };
    let name = iface["name"].as_str().unwrap_or("");
    let cause = |message: String| Cause {
        field: format!("{at}.state"),
        message,
    };
    let mut causes = Vec::new();
    if !STATES.contains(&state) {
        causes.push(cause(format!(
            "logical {name} interface state value is unsupported: {state}"
        )));
    }
    if iface["sriov"].is_object() && (state == "down" || state == "up") {
        causes.push(cause(format!(
            "\"{name}\" interface's state \"{state}\" is not supported for SR-IOV NICs"
        )));
    }
    if state == "absent" && !iface["bridge"].is_object() {
        causes.push(cause(format!(
            "\"{name}\" interface's state \"{state}\" is supported only for bridge binding"
        )));
    }
    if state == "absent" && is_default_network(spec, &iface["name"]) {
        causes.push(cause(format!(
            "\"{name}\" interface's state \"{state}\" is not supported on default networks"
        )));
    }
    causes
}

/// kubevirt v1.9.0 pkg/network/admitter/binding.go validateMasqueradeBinding.
fn masquerade_cause(at: &str, iface: &Value, spec: &Value) -> Option<Cause> {
    let on_pod = network(spec, &iface["name"]).is_some_and(|n| n["pod"].is_object());
    (iface["masquerade"].is_object() && !on_pod).then(|| Cause {
        field: format!("{at}.name"),
        message: "Masquerade interface only implemented with pod network".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(ifaces: Value) -> Value {
        json!({"domain": {"devices": {"interfaces": ifaces}},
               "networks": [{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": "n"}},
                            {"name": "vf", "multus": {"networkName": "s"}}]})
    }

    fn messages(ifaces: Value) -> Vec<String> {
        causes("spec", &spec(ifaces))
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn upstream_interface_states_are_checked_per_binding_and_network() {
        assert!(messages(json!([{"name": "net1", "bridge": {}, "state": "down"}])).is_empty());
        assert_eq!(
            messages(json!([{"name": "net1", "bridge": {}, "state": "sleeping"}])),
            ["spec.domain.devices.interfaces[0].state: logical net1 interface state value is unsupported: sleeping"]
        );
        assert_eq!(
            messages(json!([{"name": "vf", "sriov": {}, "state": "down"}])),
            ["spec.domain.devices.interfaces[0].state: \"vf\" interface's state \"down\" is not supported for SR-IOV NICs"]
        );
        assert_eq!(
            messages(json!([{"name": "default", "masquerade": {}, "state": "absent"}])),
            [
                "spec.domain.devices.interfaces[0].state: \"default\" interface's state \"absent\" is supported only for bridge binding",
                "spec.domain.devices.interfaces[0].state: \"default\" interface's state \"absent\" is not supported on default networks",
            ]
        );
        assert_eq!(
            messages(json!([{"name": "net1", "masquerade": {}}])),
            ["spec.domain.devices.interfaces[0].name: Masquerade interface only implemented with pod network"]
        );
    }
}

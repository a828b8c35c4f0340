//! What a change to a running VM's template means (LiveUpdate rollout): a CPU socket or
//! guest memory hotplug, a new NAD reference or new placement (affinity, nodeSelector,
//! tolerations) applied to the VMI, or `RestartRequired` with upstream's message.

use serde_json::Value;

use super::launcher;
use crate::world::config::VirtConfig;

pub const GENERIC: &str = "a non-live-updatable field was changed in the template spec";

#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    pub restart_required: Option<String>,
    pub sockets: Option<u64>,
    pub memory_guest: Option<u64>,
    /// The template's networks, when only multus NAD references changed.
    pub networks: Option<Value>,
    /// The template's interfaces, when NICs were hotplugged or marked `state: absent`.
    pub interfaces: Option<Value>,
    /// The template's placement fields, when they changed.
    pub placement: Option<Value>,
}

const PLACEMENT: [&str; 3] = ["affinity", "nodeSelector", "tolerations"];

fn placement(t: &Value) -> Value {
    PLACEMENT
        .iter()
        .map(|k| (k.to_string(), t[*k].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Whether the interface and network lists differ only in ways that apply live: a NAD
/// reference changed, bridge/SR-IOV interfaces appended with their multus networks, or an
/// interface marked `state: absent` (its network stays until the unplug is done).
fn nics_live_updatable(running: &Value, wanted: &Value) -> bool {
    let list = |t: &Value, key: &str| -> Vec<Value> {
        let at = if key == "networks" {
            &t["networks"]
        } else {
            &t["domain"]["devices"]["interfaces"]
        };
        at.as_array().cloned().unwrap_or_default()
    };
    let (old_ifaces, new_ifaces) = (list(running, "interfaces"), list(wanted, "interfaces"));
    let (old_nets, new_nets) = (list(running, "networks"), list(wanted, "networks"));
    if new_ifaces.len() < old_ifaces.len() || new_nets.len() < old_nets.len() {
        return false;
    }
    let same_iface = |a: &Value, b: &Value| {
        let strip = |v: &Value| {
            let mut v = v.clone();
            v["state"] = Value::Null;
            v["macAddress"] = Value::Null;
            v
        };
        strip(a) == strip(b) && (a["state"] == b["state"] || b["state"] == "absent")
    };
    // A network may change only its NAD reference.
    let same_net = |a: &Value, b: &Value| {
        let mut a = a.clone();
        if a["multus"].is_object() && b["multus"].is_object() {
            a["multus"]["networkName"] = b["multus"]["networkName"].clone();
        }
        a == *b
    };
    let kept = old_ifaces
        .iter()
        .zip(&new_ifaces)
        .all(|(a, b)| same_iface(a, b))
        && old_nets.iter().zip(&new_nets).all(|(a, b)| same_net(a, b));
    let added = new_ifaces[old_ifaces.len()..].iter().all(|i| {
        let pluggable = i["bridge"].is_object() || i["sriov"].is_object();
        pluggable
            && new_nets[old_nets.len()..]
                .iter()
                .any(|n| n["name"] == i["name"] && n["multus"].is_object())
    });
    kept && added
}

/// Compares the template the VMI runs with the VM's current one.
pub fn evaluate(config: &VirtConfig, running: &Value, wanted: &Value, vmi: &Value) -> Decision {
    if running == wanted {
        return Decision::default();
    }
    let restart = |why: &str| Decision {
        restart_required: Some(why.to_string()),
        ..Decision::default()
    };
    let (mut r, mut w) = (running.clone(), wanted.clone());
    for t in [&mut r, &mut w] {
        t["domain"]["cpu"]["sockets"] = Value::Null;
        t["domain"]["memory"]["guest"] = Value::Null;
        t["domain"]["resources"] = Value::Null;
        for k in PLACEMENT {
            t[k] = Value::Null;
        }
        t["networks"] = Value::Null;
        t["domain"]["devices"]["interfaces"] = Value::Null;
    }
    if r != w || !config.live_update_rollout {
        return restart(GENERIC);
    }
    let migratable = super::migratable::is_migratable(vmi);
    let mut decision = Decision::default();
    let old_sockets = running["domain"]["cpu"]["sockets"].as_u64().unwrap_or(1);
    let new_sockets = wanted["domain"]["cpu"]["sockets"].as_u64().unwrap_or(1);
    if new_sockets != old_sockets {
        let max = vmi["spec"]["domain"]["cpu"]["maxSockets"]
            .as_u64()
            .unwrap_or(old_sockets);
        if new_sockets < old_sockets {
            return restart("Reduction of CPU socket count requires a restart");
        }
        if new_sockets > max {
            return restart(
                "CPU sockets updated in template spec to a value higher than what's available",
            );
        }
        if !migratable {
            return restart(GENERIC);
        }
        decision.sockets = Some(new_sockets);
    }
    let interfaces = |t: &Value| t["domain"]["devices"]["interfaces"].clone();
    if running["networks"] != wanted["networks"] || interfaces(running) != interfaces(wanted) {
        // NAD swaps, NIC hotplug and unplug all need the migration that re-plugs the NICs.
        if !migratable || !nics_live_updatable(running, wanted) {
            return restart(GENERIC);
        }
        decision.networks = Some(wanted["networks"].clone());
        decision.interfaces = Some(interfaces(wanted));
    }
    if placement(running) != placement(wanted) {
        decision.placement = Some(placement(wanted));
    }
    let old_memory = launcher::guest_memory(running);
    let new_memory = launcher::guest_memory(wanted);
    if new_memory != old_memory {
        let at_boot = crate::quantity::of(&vmi["status"]["memory"]["guestAtBoot"])
            .map_or(old_memory, |v| v as u64);
        let max =
            crate::quantity::of(&vmi["spec"]["domain"]["memory"]["maxGuest"]).map(|v| v as u64);
        let failed_before = crate::obj::condition_is(vmi, "HotMemoryChange") == Some(false);
        // Upstream's live-update handler words only these two; the others fall back to the
        // generic "non-live-updatable" path.
        let why = if new_memory < at_boot {
            Some("memory updated in template spec to a value lower than what the VM started with")
        } else if max.is_some_and(|m| new_memory > m) {
            Some("memory updated in template spec to a value higher than what's available")
        } else if !migratable || max.is_none() || failed_before {
            Some(GENERIC)
        } else {
            None
        };
        if let Some(why) = why {
            return restart(why);
        }
        decision.memory_guest = Some(new_memory);
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(sockets: u64, memory: &str) -> Value {
        json!({"domain": {"cpu": {"sockets": sockets, "cores": 2, "threads": 1}, "memory": {"guest": memory}}})
    }

    fn vmi(max_sockets: u64, migratable: bool) -> Value {
        json!({"spec": {"domain": {"cpu": {"maxSockets": max_sockets}, "memory": {"maxGuest": "4Gi"}}},
               "status": {"memory": {"guestAtBoot": "1Gi"},
                          "conditions": [{"type": "LiveMigratable", "status": if migratable {"True"} else {"False"}}]}})
    }

    fn config() -> VirtConfig {
        VirtConfig::from_cr(&crate::world::config::kubevirt_cr())
    }

    #[test]
    fn more_sockets_within_max_are_hotplugged() {
        let d = evaluate(
            &config(),
            &template(1, "1Gi"),
            &template(2, "1Gi"),
            &vmi(4, true),
        );
        assert_eq!(
            d,
            Decision {
                sockets: Some(2),
                ..Decision::default()
            }
        );
    }

    #[test]
    fn fewer_sockets_or_more_than_max_need_a_restart() {
        let d = evaluate(
            &config(),
            &template(2, "1Gi"),
            &template(1, "1Gi"),
            &vmi(4, true),
        );
        assert_eq!(
            d.restart_required.as_deref(),
            Some("Reduction of CPU socket count requires a restart")
        );
        let d = evaluate(
            &config(),
            &template(1, "1Gi"),
            &template(5, "1Gi"),
            &vmi(4, true),
        );
        assert_eq!(
            d.restart_required.as_deref(),
            Some("CPU sockets updated in template spec to a value higher than what's available")
        );
    }

    #[test]
    fn a_new_nad_reference_is_live_on_a_migratable_vm_only() {
        let with_nad = |nad: &str| {
            let mut t = template(1, "1Gi");
            t["networks"] = json!([{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": nad}}]);
            t
        };
        let d = evaluate(
            &config(),
            &with_nad("vlan10"),
            &with_nad("vlan20"),
            &vmi(4, true),
        );
        assert_eq!(d.networks.unwrap()[1]["multus"]["networkName"], "vlan20");
        assert!(d.restart_required.is_none());
        let d = evaluate(
            &config(),
            &with_nad("vlan10"),
            &with_nad("vlan20"),
            &vmi(4, false),
        );
        assert_eq!(d.restart_required.as_deref(), Some(GENERIC));
        let mut renamed = with_nad("vlan10");
        renamed["networks"][1]["name"] = json!("net2");
        let d = evaluate(&config(), &with_nad("vlan10"), &renamed, &vmi(4, true));
        assert_eq!(
            d.restart_required.as_deref(),
            Some(GENERIC),
            "only the NAD name is live"
        );
    }

    #[test]
    fn a_bridge_nic_appended_or_marked_absent_is_live_but_a_masquerade_one_is_not() {
        let mut base = template(1, "1Gi");
        base["domain"]["devices"]["interfaces"] = json!([{"name": "default", "masquerade": {}}]);
        base["networks"] = json!([{"name": "default", "pod": {}}]);
        let mut plugged = base.clone();
        plugged["domain"]["devices"]["interfaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "iface1", "bridge": {}}));
        plugged["networks"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "iface1", "multus": {"networkName": "br"}}));
        let d = evaluate(&config(), &base, &plugged, &vmi(4, true));
        assert_eq!(d.interfaces.unwrap()[1]["name"], "iface1");
        let mut unplugged = plugged.clone();
        unplugged["domain"]["devices"]["interfaces"][1]["state"] = json!("absent");
        let d = evaluate(&config(), &plugged, &unplugged, &vmi(4, true));
        assert_eq!(d.interfaces.unwrap()[1]["state"], "absent");
        let mut masquerade = plugged.clone();
        masquerade["domain"]["devices"]["interfaces"][1] =
            json!({"name": "iface1", "masquerade": {}});
        assert_eq!(
            evaluate(&config(), &base, &masquerade, &vmi(4, true))
                .restart_required
                .as_deref(),
            Some(GENERIC)
        );
    }

    #[test]
    fn cores_are_not_live_updatable() {
        let mut wanted = template(1, "1Gi");
        wanted["domain"]["cpu"]["cores"] = json!(4);
        let d = evaluate(&config(), &template(1, "1Gi"), &wanted, &vmi(4, true));
        assert_eq!(d.restart_required.as_deref(), Some(GENERIC));
    }

    #[test]
    fn memory_grows_live_but_not_below_boot_or_on_a_non_migratable_vm() {
        let d = evaluate(
            &config(),
            &template(1, "1Gi"),
            &template(1, "2Gi"),
            &vmi(4, true),
        );
        assert_eq!(d.memory_guest, Some(2 << 30));
        let d = evaluate(
            &config(),
            &template(1, "2Gi"),
            &template(1, "512Mi"),
            &vmi(4, true),
        );
        assert_eq!(
            d.restart_required.as_deref(),
            Some("memory updated in template spec to a value lower than what the VM started with")
        );
        let d = evaluate(
            &config(),
            &template(1, "1Gi"),
            &template(1, "8Gi"),
            &vmi(4, true),
        );
        assert_eq!(
            d.restart_required.as_deref(),
            Some("memory updated in template spec to a value higher than what's available")
        );
        let d = evaluate(
            &config(),
            &template(1, "1Gi"),
            &template(1, "2Gi"),
            &vmi(4, false),
        );
        assert!(d.restart_required.is_some());
    }
}

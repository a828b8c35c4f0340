//! What a change to a running VM's template means (LiveUpdate rollout): a CPU socket or
//! guest memory hotplug or new placement (affinity, nodeSelector, tolerations) applied to the
//! VMI, or `RestartRequired` with upstream's message. Network changes reach the VMI through
//! the network synchronizer ([`super::netsync`]) whatever this decides.

use serde_json::Value;

use super::{launcher, netsync};
use crate::world::config::VirtConfig;

pub const GENERIC: &str = "a non-live-updatable field was changed in the template spec";

#[derive(Debug, Default, PartialEq)]
pub struct Decision {
    pub restart_required: Option<String>,
    pub sockets: Option<u64>,
    pub memory_guest: Option<u64>,
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

/// Compares the template the VMI started with (`running`, with its live updates) with the VM's
/// current one, as kubevirt/kubevirt pkg/virt-controller/watch/vm/vm.go syncRestartRequired
/// and handleCPUChangeRequest / handleMemoryHotplugRequest do (v1.9.0).
pub fn evaluate(config: &VirtConfig, running: &Value, wanted: &Value, vmi: &Value) -> Decision {
    if running == wanted {
        return Decision::default();
    }
    let restart = |why: &str| Decision {
        restart_required: Some(why.to_string()),
        ..Decision::default()
    };
    let networks_live = !netsync::restart_required(wanted, &vmi["spec"]);
    let (mut r, mut w) = (running.clone(), wanted.clone());
    for t in [&mut r, &mut w] {
        if config.live_update_rollout {
            t["domain"]["cpu"]["sockets"] = Value::Null;
            t["domain"]["memory"]["guest"] = Value::Null;
            t["domain"]["resources"] = Value::Null;
            for k in PLACEMENT {
                t[k] = Value::Null;
            }
        }
        if networks_live {
            t["networks"] = Value::Null;
            t["domain"]["devices"]["interfaces"] = Value::Null;
        }
    }
    if r != w {
        return restart(GENERIC);
    }
    if !config.live_update_rollout {
        return Decision::default();
    }
    let mut decision = Decision::default();
    let old_sockets = running["domain"]["cpu"]["sockets"].as_u64().unwrap_or(1);
    let new_sockets = wanted["domain"]["cpu"]["sockets"].as_u64().unwrap_or(1);
    if new_sockets != old_sockets {
        let max = vmi["spec"]["domain"]["cpu"]["maxSockets"]
            .as_u64()
            .unwrap_or(old_sockets);
        if new_sockets > max {
            return restart(
                "CPU sockets updated in template spec to a value higher than what's available",
            );
        }
        if new_sockets < old_sockets {
            return restart("Reduction of CPU socket count requires a restart");
        }
        decision.sockets = Some(new_sockets);
    }
    if placement(running) != placement(wanted) {
        decision.placement = Some(placement(wanted));
    }
    let old_memory = launcher::guest_memory(running);
    let new_memory = launcher::guest_memory(wanted);
    if new_memory != old_memory {
        if let Some(why) = memory_restart(vmi, new_memory, old_memory) {
            return restart(why);
        }
        decision.memory_guest = Some(new_memory);
    }
    decision
}

/// Why a guest memory change cannot be hotplugged, in handleMemoryHotplugRequest's order.
fn memory_restart(vmi: &Value, new_memory: u64, old_memory: u64) -> Option<&'static str> {
    let at_boot = crate::quantity::of(&vmi["status"]["memory"]["guestAtBoot"])
        .map_or(old_memory, |v| v as u64);
    let max = crate::quantity::of(&vmi["spec"]["domain"]["memory"]["maxGuest"]).map(|v| v as u64);
    if crate::obj::condition_is(vmi, "HotMemoryChange") == Some(false) {
        Some("memory updated in template spec. Memory-hotplug failed and is not available for this VM configuration")
    } else if !super::migratable::is_migratable(vmi) {
        Some("memory updated in template spec. Memory-hotplug is only available for migratable VMs")
    } else if max.is_none() {
        Some("memory updated in template spec. Memory-hotplug is not available for this VM configuration")
    } else if new_memory < at_boot {
        Some("memory updated in template spec to a value lower than what the VM started with")
    } else if max.is_some_and(|m| new_memory > m) {
        Some("memory updated in template spec to a value higher than what's available")
    } else {
        None
    }
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
    fn more_sockets_within_max_are_hotplugged_migratable_or_not() {
        for migratable in [true, false] {
            let d = evaluate(
                &config(),
                &template(1, "1Gi"),
                &template(2, "1Gi"),
                &vmi(4, migratable),
            );
            assert_eq!(
                d,
                Decision {
                    sockets: Some(2),
                    ..Decision::default()
                }
            );
        }
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
    fn a_network_change_restarts_only_when_it_removes_or_rebinds_a_vmi_interface() {
        let mut running = template(1, "1Gi");
        running["domain"]["devices"]["interfaces"] =
            json!([{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}}]);
        running["networks"] = json!([{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": "vlan10"}}]);
        let mut vmi = vmi(4, false);
        vmi["spec"]["domain"]["devices"] = running["domain"]["devices"].clone();
        vmi["spec"]["networks"] = running["networks"].clone();
        let mut swapped = running.clone();
        swapped["networks"][1]["multus"]["networkName"] = json!("vlan20");
        assert_eq!(
            evaluate(&config(), &running, &swapped, &vmi),
            Decision::default(),
            "a NAD swap is never a restart, migratable or not"
        );
        let mut rebound = running.clone();
        rebound["domain"]["devices"]["interfaces"][1] = json!({"name": "net1", "sriov": {}});
        assert_eq!(
            evaluate(&config(), &running, &rebound, &vmi)
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
        assert_eq!(
            d.restart_required.as_deref(),
            Some(
                "memory updated in template spec. Memory-hotplug is only available for migratable VMs"
            )
        );
    }
}

//! `MigrationRequired`: what a VMI's secondary networks need from a migration (a NAD swap at
//! once, a NIC hotplug after a grace period), as the VMI controller evaluates it, with the
//! `multus-status` interface entries it keeps from the launcher pod's network-status.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{launcher, Ctx, Key};
use crate::obj;

/// Modelled re-evaluation period of a pending migration (upstream's
/// pendingMigrationReEvalPeriod).
const REEVALUATE_SECS: f64 = 10.0;

/// Modelled `DynamicNetworkControllerGracePeriod`: how long a hotplugged NIC may stay
/// pending before the VMI is migrated to plug it.
pub const NIC_GRACE_SECS: f64 = 15.0;

/// What a VMI's networks need from a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Nothing,
    /// A NIC waits to be plugged or unplugged: after the grace period.
    Pending,
    /// A NAD reference changed, or an SR-IOV NIC was added: at once.
    Immediate,
}

/// kubevirt/kubevirt pkg/network/migration/evaluator.go shouldVMIBeMarkedForAutoMigration
/// (v1.9.0), over the secondary (non-default multus) interfaces: one without a status entry
/// waits to be plugged; one whose pod interface names another NAD in the pod's Multus
/// network-status than the spec does needs a migration now. An unplug waits once the NIC left
/// the domain (see [`super::nicunplug`]) while the status still shows it from Multus.
pub fn migration_need(vmi: &Value, pod: Option<&Value>) -> Need {
    let pod_status = pod.map(multus_network_status).unwrap_or_default();
    for (iface, net) in secondary_interfaces(vmi) {
        let status = status_of(vmi, iface);
        let absent = iface["state"] == "absent";
        match status {
            None if !absent && iface["sriov"].is_object() => return Need::Immediate,
            None if !absent => return Need::Pending,
            Some(s) if absent && multus_only(s) => return Need::Pending,
            _ => {}
        }
        if attached_elsewhere(vmi, status, net, &pod_status) {
            return Need::Immediate;
        }
    }
    Need::Nothing
}

/// evaluator.go shouldMigrateOnIfaceUnplug: an entry that Multus reports and the domain no
/// longer does (virt-launcher detached the NIC in place).
fn multus_only(status: &Value) -> bool {
    let sources = obj::str_at(status, "/infoSource");
    sources.contains("multus-status") && !sources.contains("domain")
}

/// Whether a secondary network of the VMI spec names another NAD than its pod attached.
pub fn nad_changed(vmi: &Value, pod: &Value) -> bool {
    let pod_status = multus_network_status(pod);
    secondary_interfaces(vmi)
        .into_iter()
        .any(|(iface, net)| attached_elsewhere(vmi, status_of(vmi, iface), net, &pod_status))
}

/// The pod's Multus network-status annotation.
fn multus_network_status(pod: &Value) -> Vec<Value> {
    obj::annotation(pod, "k8s.v1.cni.cncf.io/network-status")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

fn status_of<'a>(vmi: &'a Value, iface: &Value) -> Option<&'a Value> {
    let list = vmi["status"]["interfaces"].as_array()?;
    list.iter().find(|s| s["name"] == iface["name"])
}

/// Whether the pod interface of a status entry is attached to another NAD than `net` names.
fn attached_elsewhere(vmi: &Value, status: Option<&Value>, net: &Value, pod: &[Value]) -> bool {
    let pod_iface = status.map_or("", |s| obj::str_at(s, "/podInterfaceName"));
    let wanted = launcher::nad_name(vmi, net).unwrap_or_default();
    pod.iter()
        .find(|p| !pod_iface.is_empty() && p["interface"] == pod_iface)
        .is_some_and(|p| p["name"] != wanted.as_str())
}

/// The VMI's interfaces on a secondary (non-default multus) network, with that network.
fn secondary_interfaces(vmi: &Value) -> Vec<(&Value, &Value)> {
    let nets = vmi["spec"]["networks"].as_array().into_iter().flatten();
    let secondary: Vec<&Value> = nets
        .filter(|n| n["multus"].is_object() && n["multus"]["default"] != true)
        .collect();
    let ifaces = vmi["spec"]["domain"]["devices"]["interfaces"].as_array();
    ifaces
        .into_iter()
        .flatten()
        .filter_map(|i| Some((i, *secondary.iter().find(|n| n["name"] == i["name"])?)))
        .collect()
}

/// kubevirt/kubevirt pkg/network/controllers/vmi.go calculateSecondaryIfaceStatuses (v1.9.0):
/// a secondary network the pod's Multus network-status lists has a status entry from
/// `multus-status`, before virt-handler sees it in the domain; one the pod does not list loses
/// `multus-status` from its entry (after the migration that unplugged a NIC, the target pod no
/// longer attaches it), and an entry left with no source is gone (virt-handler's next status
/// update, pkg/network/setup/netstat.go UpdateStatus, keeps only what the domain, the guest
/// agent or Multus reports). Whether it changed.
pub fn sync_multus_status(vmi: &mut Value, pod: &Value) -> bool {
    let pod_status = multus_network_status(pod);
    let networks: Vec<(String, bool)> = secondary_interfaces(vmi)
        .iter()
        .map(|(_, net)| {
            let name = obj::str_at(net, "/name").to_string();
            let iface = launcher::pod_interface_name(&name);
            let attached = pod_status.iter().any(|p| p["interface"] == iface.as_str());
            (name, attached)
        })
        .collect();
    let list = obj::ensure_array(vmi, "/status/interfaces");
    let mut changed = false;
    for (name, attached) in networks {
        let at = list.iter().position(|s| s["name"] == name.as_str());
        let sources = at.map(|i| obj::str_at(&list[i], "/infoSource").to_string());
        let mut kept: Vec<&str> = sources
            .as_deref()
            .map(|s| s.split(", ").filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let listed = kept.contains(&"multus-status");
        match (at, attached) {
            (None, true) => {
                list.push(json!({"name": name, "infoSource": "multus-status",
                                 "podInterfaceName": launcher::pod_interface_name(&name)}));
                changed = true;
            }
            (Some(i), true) if !listed => {
                kept.push("multus-status");
                list[i]["infoSource"] = json!(kept.join(", "));
                changed = true;
            }
            (Some(i), false) if listed => {
                kept.retain(|s| *s != "multus-status");
                if kept.is_empty() {
                    list.remove(i);
                } else {
                    list[i]["infoSource"] = json!(kept.join(", "));
                }
                changed = true;
            }
            _ => {}
        }
    }
    changed
}

/// What the VMI controller does with `MigrationRequired` on one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Left as it is.
    Keep,
    Remove,
    Set(bool),
}

/// kubevirt/kubevirt pkg/virt-controller/watch/vmi/lifecycle.go syncMigrationRequiredCondition
/// with pkg/network/migration/evaluator.go Evaluate (v1.9.0), for a VMI that is not migrating
/// (the caller skips those): True at once for a NAD swap; for a pending NIC False first,
/// re-evaluated every 10 s, and True once the False condition is older than the grace period;
/// a True condition stays; removed when no longer required.
pub fn evaluate(ctx: &Arc<Ctx>, vmi: &Value, pod: Option<&Value>) -> Required {
    let uid = obj::uid(vmi).to_string();
    let existing = obj::condition_is(vmi, "MigrationRequired");
    match migration_need(vmi, pod) {
        Need::Nothing => {
            ctx.state().nic_grace.remove(&uid);
            Required::Remove
        }
        Need::Immediate => Required::Set(true),
        Need::Pending if existing == Some(true) => Required::Keep,
        Need::Pending => {
            let deadline = {
                let mut state = ctx.state();
                let grace = std::time::Duration::from_secs_f64(NIC_GRACE_SECS);
                if existing.is_none() || !state.nic_grace.contains_key(&uid) {
                    let ends = ctx.store.clock().deadline(grace);
                    state.nic_grace.insert(uid.clone(), ends);
                }
                state.nic_grace[&uid]
            };
            let over = existing == Some(false) && tokio::time::Instant::now() >= deadline;
            if !over {
                let key = Key::Vmi(obj::namespace(vmi).into(), obj::name(vmi).into());
                ctx.requeue_once_after(key, REEVALUATE_SECS);
            }
            Required::Set(over)
        }
    }
}

/// Writes what [`evaluate`] decided. Runs under the store's lock: it must not call the store.
pub fn set_condition(v: &mut Value, required: Required, now: &str) {
    match required {
        Required::Keep => {}
        Required::Remove => obj::remove_condition(v, "MigrationRequired"),
        Required::Set(_) if obj::condition_is(v, "MigrationRequired") == Some(true) => {}
        Required::Set(now_required) => {
            let reason = if now_required {
                "AutoMigrationDueToLiveUpdate"
            } else {
                "AutoMigrationPending"
            };
            obj::set_condition(v, "MigrationRequired", now_required, reason, "", now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vmi(nad: &str, shown: &[&str]) -> Value {
        let status: Vec<Value> = shown
            .iter()
            .map(|n| {
                json!({"name": n, "infoSource": "domain, guest-agent, multus-status",
                            "podInterfaceName": launcher::pod_interface_name(n)})
            })
            .collect();
        json!({"metadata": {"namespace": "ns"},
               "spec": {"domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}}]}},
                        "networks": [{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": nad}}]},
               "status": {"interfaces": status}})
    }

    fn pod(nad: &str) -> Value {
        let status = json!([{"name": "ovn-kubernetes", "interface": "eth0", "default": true},
                            {"name": nad, "interface": launcher::pod_interface_name("net1")}]);
        json!({"metadata": {"annotations": {"k8s.v1.cni.cncf.io/network-status": status.to_string()}}})
    }

    #[test]
    fn a_nad_swap_needs_a_migration_at_once_and_a_new_nic_after_the_grace_period() {
        let shown = ["default", "net1"];
        assert_eq!(
            migration_need(&vmi("vlan10", &shown), Some(&pod("ns/vlan10"))),
            Need::Nothing
        );
        assert_eq!(
            migration_need(&vmi("vlan20", &shown), Some(&pod("ns/vlan10"))),
            Need::Immediate
        );
        assert_eq!(
            migration_need(&vmi("vlan10", &["default"]), Some(&pod("ns/vlan10"))),
            Need::Pending
        );
        let mut sriov = vmi("vlan10", &["default"]);
        sriov["spec"]["domain"]["devices"]["interfaces"][1] = json!({"name": "net1", "sriov": {}});
        assert_eq!(migration_need(&sriov, None), Need::Immediate);
    }

    #[test]
    fn a_network_the_pod_attached_gets_a_multus_status_entry() {
        let mut v = vmi("vlan10", &["default"]);
        assert!(sync_multus_status(&mut v, &pod("ns/vlan10")));
        assert_eq!(v["status"]["interfaces"][1]["infoSource"], "multus-status");
        assert!(v["status"]["interfaces"][1]["mac"].is_null());
        assert!(!sync_multus_status(&mut v, &pod("ns/vlan10")), "once");
        let mut missing = vmi("vlan10", &["default"]);
        assert!(!sync_multus_status(&mut missing, &json!({})));
    }

    /// VSTP-102's flake: the VMI controller synced the source pod's network-status between
    /// the unplug migration's status rewrite and the VMI moving to the target, leaving a
    /// `multus-status` entry for the unplugged NIC that the target pod no longer attaches;
    /// kept forever, it asked for one migration after another.
    #[test]
    fn a_network_the_pod_no_longer_attaches_loses_its_multus_status_entry() {
        let mut unplugged = vmi("vlan10", &["default"]);
        unplugged["spec"]["domain"]["devices"]["interfaces"][1]["state"] = json!("absent");
        let source = pod("ns/vlan10");
        let target = json!({"metadata": {"annotations": {"k8s.v1.cni.cncf.io/network-status":
            json!([{"name": "ovn-kubernetes", "interface": "eth0", "default": true}]).to_string()}}});
        assert!(sync_multus_status(&mut unplugged, &source));
        assert_eq!(
            migration_need(&unplugged, Some(&source)),
            Need::Pending,
            "the source pod still attaches the NIC being unplugged"
        );
        assert!(sync_multus_status(&mut unplugged, &target));
        assert_eq!(shown(&unplugged), ["default"]);
        assert_eq!(migration_need(&unplugged, Some(&target)), Need::Nothing);
        assert!(!sync_multus_status(&mut unplugged, &target), "once");

        let mut in_domain = vmi("vlan10", &["default", "net1"]);
        assert!(sync_multus_status(&mut in_domain, &target));
        assert_eq!(
            in_domain["status"]["interfaces"][1]["infoSource"],
            "domain, guest-agent"
        );
    }

    fn shown(v: &Value) -> Vec<&str> {
        let list = v["status"]["interfaces"].as_array().into_iter().flatten();
        list.filter_map(|i| i["name"].as_str()).collect()
    }
}

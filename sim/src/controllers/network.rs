//! The launcher pod's network: Multus attaching each secondary network through its NAD (or
//! failing the sandbox the way kubelet reports it), and the guest NICs' segments following the
//! node a VMI runs on.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

pub use super::podnet::pod_network;
use super::real_guest::NicChange;
use super::{launcher, Ctx};
use crate::faults::Fault;
use crate::guest;
use crate::kinds;
use crate::obj;
use crate::world::attach;

/// Modelled time between kubelet's attempts to create a failed pod sandbox.
const SANDBOX_RETRY_SECS: f64 = 10.0;

/// Segment per secondary network (by network name) of `vmi` on `node`.
pub fn attach(ctx: &Ctx, vmi: &Value, node: &str) -> Result<HashMap<String, String>, String> {
    let mut segments = HashMap::new();
    for net in vmi["spec"]["networks"].as_array().into_iter().flatten() {
        if let Some(nad) = launcher::nad_name(vmi, net) {
            let segment = attach::segment(&ctx.store, &nad, node)?;
            segments.insert(obj::str_at(net, "/name").to_string(), segment);
        }
    }
    Ok(segments)
}

/// Attaches the pod's networks, retrying like kubelet while the sandbox cannot be created
/// (the pod stays ContainerCreating, with a FailedCreatePodSandBox event). `None` when the
/// VMI is gone meanwhile.
pub async fn sandbox(
    ctx: &Arc<Ctx>,
    pod: &str,
    node: &str,
    vmi: impl Fn() -> Option<Arc<Value>>,
) -> Option<HashMap<String, String>> {
    let mut reported = false;
    loop {
        let current = vmi()?;
        let changed = ctx.network_changed.notified();
        match attach(ctx, &current, node) {
            Ok(segments) => return Some(segments),
            Err(why) if !reported => {
                report_sandbox_failure(ctx, obj::namespace(&current), pod, node, &why);
                reported = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = changed => {}
            _ = ctx.sleep(SANDBOX_RETRY_SECS) => {}
        }
    }
}

fn report_sandbox_failure(ctx: &Ctx, ns: &str, pod: &str, node: &str, why: &str) {
    let now = ctx.now();
    let Some(p) = ctx.write(kinds::PODS, ns, pod, |p| {
        p["status"]["containerStatuses"] = json!([{"name": "compute", "ready": false, "restartCount": 0,
            "image": p["spec"]["containers"][0]["image"], "imageID": "",
            "state": {"waiting": {"reason": "ContainerCreating"}}}]);
    }) else {
        return;
    };
    let message = format!("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create pod network sandbox k8s_{pod}_{ns}_{uid}_0({id}): error adding pod {ns}_{pod} to CNI network \"multus-cni-network\": {why}",
        uid = obj::uid(&p), id = &obj::uid(&p)[..8.min(obj::uid(&p).len())]);
    let event = json!({"metadata": {"generateName": format!("{pod}."), "namespace": ns},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": pod, "uid": obj::uid(&p)},
        "reason": "FailedCreatePodSandBox", "type": "Warning", "message": message,
        "source": {"component": "kubelet", "host": node}, "reportingComponent": "kubelet", "reportingInstance": node,
        "count": 1, "firstTimestamp": now, "lastTimestamp": now});
    let _ = ctx.create(kinds::EVENTS, event);
}

/// Moves the guest's secondary NICs to the segments they have on the node the VMI now runs
/// on (after a migration, possibly through another NAD).
pub fn rejoin(ctx: &Ctx, vmi_uid: &str, segments: &HashMap<String, String>) {
    let Some(g) = ctx.guests.get(vmi_uid) else {
        return;
    };
    let keeps_old = ctx.faults.has(Fault::OldVlanStillReachable);
    let returns = ctx.faults.has(Fault::OldVlanReturns);
    let mut g = guest::lock(&g);
    for nic in g.nics.iter_mut() {
        let Some(segment) = segments.get(&nic.network) else {
            continue;
        };
        if (keeps_old || returns) && nic.segment != *segment {
            nic.stale_segment = Some(nic.segment.clone());
            nic.stale_from = returns.then(|| old_vlan_returns_at(ctx));
        }
        nic.segment = segment.clone();
    }
}

/// When the `old-vlan-returns` regression bridges the NIC into the old VLAN again: from its
/// `=SECS` modelled seconds after the swap's migration completed, for [`STALE_ON`] of every
/// [`STALE_EVERY`], as a stale flow that a periodic resync puts back and the next sync removes
/// would. A probe shorter than the period can fall between two returns; one that samples over
/// the whole period cannot.
fn old_vlan_returns_at(ctx: &Ctx) -> guest::Flapping {
    let clock = ctx.store.clock();
    let late = std::time::Duration::from_secs_f64(ctx.faults.late(Fault::OldVlanReturns));
    guest::Flapping {
        from: clock.deadline(late).into_std(),
        every: clock.real(STALE_EVERY),
        on: clock.real(STALE_ON),
    }
}

/// The period and duration of the old VLAN's returns under `old-vlan-returns`, modelled.
const STALE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
const STALE_ON: std::time::Duration = std::time::Duration::from_secs(3);

/// The running launcher pod on the node the VMI runs on.
pub fn active_pod(ctx: &Ctx, vmi: &Value) -> Option<Arc<Value>> {
    let node = obj::str_at(vmi, "/status/nodeName");
    ctx.list(kinds::PODS, Some(obj::namespace(vmi)))
        .into_iter()
        .find(|p| {
            obj::label(p, "kubevirt.io/created-by") == Some(obj::uid(vmi))
                && obj::str_at(p, "/status/phase") == "Running"
                && obj::str_at(p, "/spec/nodeName") == node
        })
}

/// The names of the interfaces the VMI status shows.
pub fn shown_interfaces(vmi: &Value) -> Vec<&str> {
    let list = vmi["status"]["interfaces"].as_array();
    list.into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str())
        .collect()
}

// From the migration's completion until the target has hot-plugged a new NIC into the domain
// (the durations profile's `nic_attach`), and from then until the guest agent reports it
// configured (`nic_agent`).

/// At the migration: the NICs unplugged from the VMI leave the guest and the status, and the
/// pod-network NIC follows the target pod. NICs new in the VMI spec are not plugged yet (see
/// [`hotplug`]); whether there are any.
pub fn replug(ctx: &Ctx, vmi: &Value, node: &str, pod: &launcher::PodNetwork) -> bool {
    let uid = obj::uid(vmi);
    let Some(g) = ctx.guests.get(uid) else {
        return false;
    };
    let wanted = interface_names(vmi);
    let (current, existing, windows) = {
        let g = guest::lock(&g);
        let current: Vec<String> = g.nics.iter().map(|n| n.network.clone()).collect();
        (current, g.nics.clone(), g.os == guest::Os::Windows)
    };
    let kept = only_interfaces(vmi, &current);
    let added = wanted.len() > interface_names(&kept).len();
    if interface_names(&kept) == current {
        follow_pod_address(ctx, vmi, &g, pod);
        return added;
    }
    let Ok(segments) = attach(ctx, &kept, node) else {
        return added;
    };
    let config = guest::cloudinit::read(&ctx.store, vmi, guest_user(windows));
    let macs = launcher::macs(&kept, &existing);
    let nics = launcher::guest_nics(&kept, &macs, pod, &config, windows, &segments);
    guest::lock(&g).nics = as_the_guest_sees(ctx, &nics, &existing);
    ctx.write_uid(kinds::VMIS, obj::namespace(vmi), obj::name(vmi), uid, |v| {
        v["status"]["interfaces"] = launcher::status_interfaces(&kept, &nics, true, &pod.ip);
    });
    added
}

fn guest_user(windows: bool) -> &'static str {
    if windows {
        "Administrator"
    } else {
        "cloud-user"
    }
}

/// Names of the interfaces present in a VMI spec.
fn interface_names(vmi: &Value) -> Vec<String> {
    let ifaces = launcher::interfaces(vmi);
    ifaces
        .iter()
        .map(|i| obj::str_at(i, "/name").to_string())
        .collect()
}

/// The VMI with only the interfaces named in `names` in its spec.
fn only_interfaces(vmi: &Value, names: &[String]) -> Value {
    let mut only = vmi.clone();
    if let Some(list) = only["spec"]["domain"]["devices"]["interfaces"].as_array_mut() {
        list.retain(|i| names.iter().any(|n| i["name"] == n.as_str()));
    }
    only
}

/// The NICs new in the VMI spec are hot-plugged into the running domain on `node` (upstream's
/// virt-handler plugs them on the target once the migration completed); virt-handler's status
/// update then shows each with its MAC (kubevirt/kubevirt pkg/network/setup/netstat.go
/// UpdateStatus, v1.9.0: `domain, multus-status`), and once the guest agent reports it, with
/// its guest name and addresses (`domain, guest-agent, multus-status`).
pub async fn hotplug(ctx: Arc<Ctx>, vmi: Value, node: String, pod: launcher::PodNetwork) {
    let durations = ctx.spec.durations;
    ctx.sleep(durations.nic_attach).await;
    let Some(plugged) = plug(&ctx, &vmi, &node, &pod) else {
        return;
    };
    // What the guest model got (a regression of the catalogue may lose a NIC) is what the
    // real guest gets.
    let seen = ctx
        .guests
        .get(obj::uid(&vmi))
        .map(|g| guest::lock(&g).nics.clone());
    let macs: Vec<String> = seen
        .into_iter()
        .flatten()
        .map(|n| n.mac)
        .filter(|mac| plugged.iter().any(|p| p.mac == *mac))
        .collect();
    super::real_guest::change_nics(&ctx, &vmi, &macs, NicChange::Plug).await;
    ctx.sleep(durations.nic_activation).await;
    if let (Some(_), Some(g)) = (current(&ctx, &vmi), ctx.guests.get(obj::uid(&vmi))) {
        configure(&mut guest::lock(&g), &plugged);
    }
    ctx.sleep(durations.nic_agent - durations.nic_activation)
        .await;
    let (Some(now), Some(g)) = (current(&ctx, &vmi), ctx.guests.get(obj::uid(&vmi))) else {
        return;
    };
    let seen = guest::lock(&g).nics.clone();
    let reported: Vec<&guest::Nic> = plugged
        .iter()
        .filter(|n| seen.iter().any(|s| s.network == n.network))
        .collect();
    write_entries(&ctx, &now, &reported, true, &pod.ip);
}

/// The VMI as it is now, while it is still the same one and runs.
fn current(ctx: &Ctx, vmi: &Value) -> Option<Arc<Value>> {
    ctx.get(kinds::VMIS, obj::namespace(vmi), obj::name(vmi))
        .filter(|v| obj::uid(v) == obj::uid(vmi) && !obj::deleting(v))
}

/// Plugs the NICs the guest does not have yet among those of `migrated` (the VMI spec the
/// target pod was made for: upstream plugs only interfaces whose status carries the target
/// pod's `multus-status`, kubevirt v1.9.0 virtwrap/network/nichotplug.go; a NIC added to the
/// spec after the target pod was made waits for a migration of its own); the ones plugged.
fn plug(
    ctx: &Ctx,
    migrated: &Value,
    node: &str,
    pod: &launcher::PodNetwork,
) -> Option<Vec<guest::Nic>> {
    let in_target_pod = |name: &str| {
        let ifaces = launcher::interfaces(migrated);
        ifaces.iter().any(|i| i["name"] == name)
    };
    let vmi = current(ctx, migrated)?;
    let g = ctx.guests.get(obj::uid(&vmi))?;
    let (existing, windows) = {
        let g = guest::lock(&g);
        (g.nics.clone(), g.os == guest::Os::Windows)
    };
    let segments = attach(ctx, &vmi, node).ok()?;
    let config = guest::cloudinit::read(&ctx.store, &vmi, guest_user(windows));
    let macs = launcher::macs(&vmi, &existing);
    let all = launcher::guest_nics(&vmi, &macs, pod, &config, windows, &segments);
    let mut new: Vec<guest::Nic> = all
        .into_iter()
        .filter(|n| !existing.iter().any(|e| e.network == n.network))
        .filter(|n| in_target_pod(&n.network))
        .collect();
    let room = free_ports(ctx, &vmi, &existing);
    if new.len() > room {
        // hotplugVirtioInterface plugs in order and stops at libvirt's refusal; virt-handler
        // records the failed sync (pkg/virt-handler/vm.go, SyncFailed). The NIC stays out of
        // the domain: its status entry keeps only `multus-status`, without a MAC.
        new.truncate(room);
        let message = super::pciports::NO_FREE_PORT;
        super::events::warning(
            ctx,
            &vmi,
            "SyncFailed",
            message,
            super::events::VIRT_HANDLER,
        );
    }
    if new.is_empty() {
        return None;
    }
    let with_new: Vec<guest::Nic> = existing
        .iter()
        .cloned()
        .chain(new.iter().map(link_only))
        .collect();
    guest::lock(&g).nics = as_the_guest_sees(ctx, &with_new, &existing);
    write_entries(ctx, &vmi, &new.iter().collect::<Vec<_>>(), false, &pod.ip);
    Some(new)
}

// From a hot-plugged NIC's link coming up in the guest until its addresses are usable (the
// durations profile's `nic_activation`): NetworkManager activates the profile cloud-init
// rendered for the new device's MAC (NetworkManager nm-device.c activation stages: prepare,
// config, ip-config), and a static IPv6 address stays tentative through duplicate address
// detection (RFC 4862 5.4, Linux net.ipv6.conf.default.dad_transmits=1 with a 1 s
// RetransTimer) before it is used.

/// A new NIC as the guest first has it: the link, no addresses yet.
fn link_only(nic: &guest::Nic) -> guest::Nic {
    guest::Nic {
        addrs: Vec::new(),
        reachable_at: Vec::new(),
        ..nic.clone()
    }
}

/// NetworkManager has configured the plugged NICs: their addresses are on the guest's NICs.
fn configure(g: &mut guest::Guest, plugged: &[guest::Nic]) {
    for nic in g.nics.iter_mut() {
        if let Some(p) = plugged
            .iter()
            .find(|p| p.network == nic.network && p.mac == nic.mac)
        {
            nic.addrs = p.addrs.clone();
            nic.reachable_at = p.reachable_at.clone();
        }
    }
}

/// PCIe ports left for hot-plugged NICs in the domain of `vmi`, whose NICs are `present`.
fn free_ports(ctx: &Ctx, vmi: &Value, present: &[guest::Nic]) -> usize {
    let ports = ctx.state().hotplug_ports.get(obj::uid(vmi)).cloned();
    let networks: Vec<String> = present.iter().map(|n| n.network.clone()).collect();
    ports.map_or(usize::MAX, |p| p.free_with(&networks))
}

/// The guest's NICs after a replug: the plugged ones, unless a regression of the catalogue
/// loses a new NIC or keeps a removed one.
fn as_the_guest_sees(ctx: &Ctx, plugged: &[guest::Nic], before: &[guest::Nic]) -> Vec<guest::Nic> {
    let had = |n: &guest::Nic, list: &[guest::Nic]| list.iter().any(|b| b.network == n.network);
    let mut seen: Vec<guest::Nic> = plugged
        .iter()
        .filter(|n| had(n, before) || !ctx.faults.has(Fault::HotpluggedNicMissing))
        .cloned()
        .collect();
    if ctx.faults.has(Fault::UnpluggedNicStays) {
        seen.extend(before.iter().filter(|n| !had(n, plugged)).cloned());
    }
    seen
}

/// Writes the status entries of `nics` (by name, in place of what the status had for them).
fn write_entries(ctx: &Ctx, vmi: &Value, nics: &[&guest::Nic], agent: bool, pod_ip: &str) {
    let entries: Vec<Value> = nics
        .iter()
        .filter_map(|nic| {
            let ifaces = launcher::interfaces(vmi);
            let iface = ifaces.iter().find(|i| i["name"] == nic.network.as_str())?;
            Some(launcher::status_entry(vmi, iface, nic, agent, pod_ip))
        })
        .collect();
    ctx.write_same(kinds::VMIS, vmi, |v| {
        let list = obj::ensure_array(v, "/status/interfaces");
        for entry in entries {
            match list.iter_mut().find(|e| e["name"] == entry["name"]) {
                Some(old) => *old = entry,
                None => list.push(entry),
            }
        }
    });
}

/// The pod-network NIC is now reached at the target pod's address (a new pod IP behind
/// masquerade; the same claimed address on a primary UDN), and the status says so.
fn follow_pod_address(ctx: &Ctx, vmi: &Value, g: &guest::GuestRef, pod: &launcher::PodNetwork) {
    let Ok(ip) = pod.ip.parse::<std::net::IpAddr>() else {
        return;
    };
    let mut on_pod = None;
    for nic in guest::lock(g)
        .nics
        .iter_mut()
        .filter(|n| n.segment == pod.segment)
    {
        nic.reachable_at = vec![ip];
        nic.egress = pod.egress;
        if nic.port_security.is_some() {
            nic.port_security = Some(vec![ip]);
        }
        on_pod = Some(nic.network.clone());
    }
    let Some(network) = on_pod else { return };
    ctx.write_same(kinds::VMIS, vmi, |v| {
        for entry in v["status"]["interfaces"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if entry["name"] == network.as_str() && !entry["ipAddress"].is_null() {
                entry["ipAddress"] = json!(pod.ip);
                entry["ipAddresses"] = json!([pod.ip]);
            }
        }
    });
}

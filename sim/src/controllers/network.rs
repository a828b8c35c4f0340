//! The launcher pod's network: Multus attaching each secondary network through its NAD (or
//! failing the sandbox the way kubelet reports it), and the guest NICs' segments following the
//! node a VMI runs on.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

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
    let mut g = guest::lock(&g);
    for nic in g.nics.iter_mut() {
        let Some(segment) = segments.get(&nic.network) else {
            continue;
        };
        if keeps_old && nic.segment != *segment {
            nic.stale_segment = Some(nic.segment.clone());
        }
        nic.segment = segment.clone();
    }
}

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

/// After a migration that plugged or unplugged NICs: the guest's NICs follow the VMI spec
/// (kept NICs keep their MAC and addresses) and the VMI status lists them.
pub fn replug(ctx: &Ctx, vmi: &Value, node: &str, pod: &launcher::PodNetwork) {
    let uid = obj::uid(vmi);
    let Some(g) = ctx.guests.get(uid) else { return };
    let wanted: Vec<String> = launcher::interfaces(vmi)
        .iter()
        .map(|i| obj::str_at(i, "/name").to_string())
        .collect();
    let (current, existing, windows) = {
        let g = guest::lock(&g);
        let current: Vec<String> = g.nics.iter().map(|n| n.network.clone()).collect();
        (current, g.nics.clone(), g.os == guest::Os::Windows)
    };
    if wanted == current {
        follow_pod_address(ctx, vmi, &g, pod);
        return;
    }
    let Ok(segments) = attach(ctx, vmi, node) else {
        return;
    };
    let user = if windows {
        "Administrator"
    } else {
        "cloud-user"
    };
    let config = guest::cloudinit::read(&ctx.store, vmi, user);
    let macs = launcher::macs(vmi, &existing);
    let nics = launcher::guest_nics(vmi, &macs, pod, &config, windows, &segments);
    guest::lock(&g).nics = as_the_guest_sees(ctx, &nics, &existing);
    ctx.write_uid(kinds::VMIS, obj::namespace(vmi), obj::name(vmi), uid, |v| {
        v["status"]["interfaces"] = launcher::status_interfaces(v, &nics, true, &pod.ip);
    });
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
        on_pod = Some(nic.network.clone());
    }
    let Some(network) = on_pod else { return };
    ctx.write_uid(
        kinds::VMIS,
        obj::namespace(vmi),
        obj::name(vmi),
        obj::uid(vmi),
        |v| {
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
        },
    );
}

/// Why the NICs of `vmi` cannot all be plugged: the VM booted with `at_boot` interfaces and
/// KubeVirt left PCIe root ports for a few more (at least 3 of 8, or 6 of 16 above 2 GiB).
pub fn slots_exhausted(vmi: &Value, at_boot: usize) -> Option<String> {
    let (total, min_free): (usize, usize) = if launcher::guest_memory(&vmi["spec"]) > 2 << 30 {
        (16, 6)
    } else {
        (8, 3)
    };
    let free = total.saturating_sub(at_boot).max(min_free);
    let interfaces = launcher::interfaces(vmi);
    let plugged = interfaces.len().saturating_sub(at_boot);
    (plugged > free).then(|| {
        let name = interfaces.last().map(|i| obj::str_at(i, "/name").to_string()).unwrap_or_default();
        format!("failed to hotplug interface {name}: no free PCIe port: the VM started with {at_boot} interfaces, which leaves {free} for hotplug; restart the VM to plug more")
    })
}

/// The pod network of `vmi` whose launcher pod `pod` has cluster IP `pod_ip`: its namespace's
/// primary UDN (with the VM's claimed address) or the cluster network.
pub fn pod_network(ctx: &Ctx, vmi: &Value, pod: &str, pod_ip: &str) -> launcher::PodNetwork {
    let Some((network, config)) = super::udn::primary_network(ctx, obj::namespace(vmi)) else {
        return launcher::PodNetwork {
            ip: pod_ip.to_string(),
            segment: crate::world::fabric::POD_SEGMENT.to_string(),
            bridged: None,
            udn_nad: None,
        };
    };
    let claimed = super::udn::claim_address(ctx, vmi, &network, &config, pod);
    let bridged = launcher::interfaces(vmi).iter().any(|i| {
        let binding = i["binding"]["name"].as_str();
        matches!(binding, Some("l2bridge" | "passt")) || i["passtBinding"].is_object()
    });
    launcher::PodNetwork {
        ip: claimed.map_or(pod_ip.to_string(), |(ip, _)| ip.to_string()),
        segment: format!("udn:{network}"),
        bridged: claimed.filter(|_| bridged),
        udn_nad: config["netAttachDefName"].as_str().map(String::from),
    }
}

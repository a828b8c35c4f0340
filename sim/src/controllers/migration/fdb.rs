//! Frames to a migrating guest go astray. A bridge-CNI interface is created link-up, so when
//! the migration target pod starts, the kernel's IPv6 neighbour solicitations and
//! advertisements leave it with the guest's MAC (a bridge-binding interface with an explicit
//! MAC carries it in the pod too), and the switches learn the guest at the target node while
//! it still runs on the source: frames to it, replies included, are lost until the domain
//! runs on the target (QEMU announces it there). A NAD with `disableContainerInterface` keeps
//! the pod interface down until KubeVirt sets it up, and avoids it. kubevirt/kubevirt commit
//! 6f0742af "network, bridge binding: Enable container interface" (PR 11069, CNV-28040);
//! containernetworking/plugins bridge.go `disableContainerInterface` (PR 951).

use serde_json::Value;

use crate::controllers::Ctx;
use crate::guest;
use crate::kinds;
use crate::obj;

/// The target pod is up: the guest's bridge NICs that announce themselves there lose their
/// traffic.
pub fn target_announced(ctx: &Ctx, vmi: &Value) {
    let Some(g) = ctx.guests.get(obj::uid(vmi)) else {
        return;
    };
    let announced: Vec<String> = announcing_networks(ctx, vmi);
    for nic in guest::lock(&g).nics.iter_mut() {
        if announced.contains(&nic.network) && nic.segment.starts_with("phys:") {
            nic.misdirected = true;
        }
    }
}

/// The migration ended: the guest runs on one node again and the switches follow it.
pub fn settled(ctx: &Ctx, vmi_uid: &str) {
    if let Some(g) = ctx.guests.get(vmi_uid) {
        for nic in guest::lock(&g).nics.iter_mut() {
            nic.misdirected = false;
        }
    }
}

/// The VM networks of `vmi` with bridge binding and an explicit MAC whose NAD is a bridge
/// CNI config leaving the container interface up.
fn announcing_networks(ctx: &Ctx, vmi: &Value) -> Vec<String> {
    let ns = obj::namespace(vmi);
    let interfaces = vmi["spec"]["domain"]["devices"]["interfaces"].as_array();
    interfaces
        .into_iter()
        .flatten()
        .filter(|i| i["bridge"].is_object() && i["macAddress"].is_string())
        .filter_map(|i| i["name"].as_str())
        .filter(|name| {
            let nad = nad_of(vmi, name);
            nad.is_some_and(|nad| leaves_interface_up(ctx, ns, &nad))
        })
        .map(str::to_string)
        .collect()
}

/// `multus.networkName` of network `name`.
fn nad_of(vmi: &Value, name: &str) -> Option<String> {
    let networks = vmi["spec"]["networks"].as_array()?;
    let net = networks.iter().find(|n| n["name"] == name)?;
    net["multus"]["networkName"].as_str().map(str::to_string)
}

fn leaves_interface_up(ctx: &Ctx, ns: &str, nad: &str) -> bool {
    let (ns, name) = nad.split_once('/').unwrap_or((ns, nad));
    let Some(object) = ctx.get(kinds::NADS, ns, name) else {
        return false;
    };
    let config: Value =
        serde_json::from_str(object["spec"]["config"].as_str().unwrap_or("")).unwrap_or_default();
    let disabled = matches!(&config["disableContainerInterface"], Value::Bool(true))
        || config["disableContainerInterface"] == "true";
    config["type"] == "bridge" && !disabled
}

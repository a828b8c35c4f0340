//! Hot-unplug in place: an interface marked `state: absent` in the VMI spec is detached from
//! the running domain by virt-launcher before any migration; the migration that follows only
//! takes its network off the pod.

use std::sync::Arc;

use serde_json::{json, Value};

use super::real_guest::NicChange;
use super::{launcher, Ctx};
use crate::faults::Fault;
use crate::guest;
use crate::kinds;
use crate::obj;

// From the VMI spec marking a NIC absent to the guest letting it go (the handler's sync and the
// guest's PCIe hot-unplug): the durations profile's `nic_detach`.

/// The absent interfaces of `vmi` the guest still has.
fn to_detach(ctx: &Ctx, vmi: &Value) -> Vec<String> {
    let Some(g) = ctx.guests.get(obj::uid(vmi)) else {
        return Vec::new();
    };
    let present: Vec<String> = guest::lock(&g)
        .nics
        .iter()
        .map(|n| n.network.clone())
        .collect();
    let ifaces = vmi["spec"]["domain"]["devices"]["interfaces"].as_array();
    ifaces
        .into_iter()
        .flatten()
        .filter(|i| i["state"] == "absent")
        .filter_map(|i| i["name"].as_str())
        .filter(|n| present.iter().any(|p| p == n) && shown_in_domain(vmi, n))
        .map(String::from)
        .collect()
}

fn shown_in_domain(vmi: &Value, name: &str) -> bool {
    let list = vmi["status"]["interfaces"].as_array();
    list.into_iter()
        .flatten()
        .any(|e| e["name"] == name && obj::str_at(e, "/infoSource").contains("domain"))
}

/// kubevirt v1.9.0 pkg/virt-launcher/virtwrap/network/nichotplug.go hotUnplugVirtioInterface
/// (interfacesToHotUnplug: absent in the spec, still in the domain): the NIC is detached from
/// the domain, so the guest loses it; virt-handler's next status update
/// (pkg/network/setup/netstat.go UpdateStatus) keeps only what Multus reports of it, the
/// `multus-status` entry without a MAC, which is what makes the evaluator ask for the
/// migration (pkg/network/migration/evaluator.go shouldMigrateOnIfaceUnplug).
pub fn reconcile(ctx: &Arc<Ctx>, vmi: &Value) {
    let uid = obj::uid(vmi).to_string();
    if to_detach(ctx, vmi).is_empty() || !ctx.state().detaching.insert(uid.clone()) {
        return;
    }
    let (ctx, vmi) = (ctx.clone(), vmi.clone());
    tokio::spawn(async move {
        ctx.sleep(ctx.spec.durations.nic_detach).await;
        if let Some(now) = ctx
            .get(kinds::VMIS, obj::namespace(&vmi), obj::name(&vmi))
            .filter(|v| obj::uid(v) == uid && !obj::deleting(v))
        {
            let names = to_detach(&ctx, &now);
            if !ctx.faults.has(Fault::UnpluggedNicStays) {
                let macs = macs_of(&ctx, &now, &names);
                super::real_guest::change_nics(&ctx, &now, &macs, NicChange::Unplug).await;
            }
            detach(&ctx, &now, &names);
        }
        ctx.state().detaching.remove(&uid);
    });
}

/// The MACs the guest has for the NICs of `names`.
fn macs_of(ctx: &Ctx, vmi: &Value, names: &[String]) -> Vec<String> {
    let Some(g) = ctx.guests.get(obj::uid(vmi)) else {
        return Vec::new();
    };
    let g = guest::lock(&g);
    let nics = g.nics.iter().filter(|n| names.contains(&n.network));
    nics.map(|n| n.mac.clone()).collect()
}

fn detach(ctx: &Ctx, vmi: &Value, names: &[String]) {
    if names.is_empty() {
        return;
    }
    if let Some(g) = ctx.guests.get(obj::uid(vmi)) {
        // The unplugged-nic-stays regression: the guest keeps the NIC.
        if !ctx.faults.has(Fault::UnpluggedNicStays) {
            guest::lock(&g).nics.retain(|n| !names.contains(&n.network));
        }
    }
    ctx.write_same(kinds::VMIS, vmi, |v| {
        for entry in v["status"]["interfaces"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["name"]
                    .as_str()
                    .is_some_and(|n| names.iter().any(|x| x == n))
            })
        {
            let name = obj::str_at(entry, "/name").to_string();
            *entry = json!({"name": name, "infoSource": "multus-status",
                            "podInterfaceName": launcher::pod_interface_name(&name)});
        }
    });
}

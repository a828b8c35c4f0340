//! The switchover of a converged migration: the guest stops on the source and resumes on the
//! target. Each of its NICs on an uplinked secondary segment (a Linux bridge or an OVN-K
//! localnet reaching the physical network) gets a [`Handover`] that tells the fabric when its
//! frames pass again and from which node (world/handover.rs holds the model and its sources).
//! Afterwards the NICs are plugged in on the target node.

use std::sync::Arc;

use serde_json::Value;

use crate::controllers::{launcher, Ctx};
use crate::faults::Fault;
use crate::guest;
use crate::kinds;
use crate::obj;
use crate::world::handover::{self, Handover, Medium, Timing};

/// Plans the handover of the guest's uplinked NICs and waits out the stop-and-copy.
pub async fn switch_over(ctx: &Ctx, vmi: &Value, source: &str, target: &str) {
    let downtime = if ctx.faults.has(Fault::SwitchoverStretched) {
        handover::STRETCHED_DOWNTIME
    } else {
        handover::DOWNTIME
    };
    let timing = Timing {
        downtime,
        announced: !ctx.faults.has(Fault::SelfAnnounceLost),
        real_per_modelled: ctx.faults.slowdown() / ctx.store.clock().scale(),
    };
    let mediums = mediums(ctx, vmi);
    if let Some(g) = ctx.guests.get(obj::uid(vmi)) {
        for nic in guest::lock(&g).nics.iter_mut() {
            let medium = mediums.iter().find(|(n, _)| *n == nic.network);
            if let Some((_, medium)) = medium.filter(|_| nic.segment.starts_with("phys:")) {
                let planned = Handover::plan(*medium, source, target, &timing);
                nic.handover = Some(Arc::new(planned));
            }
        }
    }
    ctx.sleep(downtime).await;
}

/// The guest runs on `target`: its NICs are plugged in there.
pub fn plugged_in(ctx: &Ctx, vmi_uid: &str, target: &str) {
    if let Some(g) = ctx.guests.get(vmi_uid) {
        for nic in guest::lock(&g).nics.iter_mut() {
            nic.node = target.to_string();
        }
    }
}

/// The medium of each multus network of `vmi` whose NAD is a Linux bridge or an OVN-K
/// localnet.
fn mediums(ctx: &Ctx, vmi: &Value) -> Vec<(String, Medium)> {
    let networks = vmi["spec"]["networks"].as_array().into_iter().flatten();
    networks
        .filter_map(|net| {
            let nad = launcher::nad_name(vmi, net)?;
            let (ns, name) = nad.split_once('/')?;
            let object = ctx.get(kinds::NADS, ns, name)?;
            let text = object["spec"]["config"].as_str().unwrap_or("");
            let config: Value = serde_json::from_str(text).ok()?;
            let medium = match (config["type"].as_str(), config["topology"].as_str()) {
                (Some("bridge"), _) => Medium::LinuxBridge,
                (Some("ovn-k8s-cni-overlay"), Some("localnet")) => Medium::Localnet,
                _ => return None,
            };
            Some((net["name"].as_str()?.to_string(), medium))
        })
        .collect()
}

//! bridge-marker (deployed by the cluster network addons operator with the Linux bridge CNI):
//! a daemon on every node that publishes each Linux bridge as the node's extended resource
//! `bridge.network.kubevirt.io/<bridge>`, so that a pod whose NAD names that resource is only
//! scheduled where the bridge exists.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use super::{nmstate, Ctx};
use crate::kinds;
use crate::obj;

/// kubevirt/bridge-marker cmd/marker/main.go `defaultUpdateInterval` (modelled seconds).
const UPDATE_INTERVAL: f64 = 60.0;
/// kubevirt/bridge-marker pkg/marker/marker.go `resourceNamespace`.
const RESOURCE_PREFIX: &str = "bridge.network.kubevirt.io/";
/// pkg/marker/marker.go `resourceDefaultValue` "1000", as the API server serialises it.
const AVAILABLE: &str = "1k";

/// kubevirt/bridge-marker cmd/marker/main.go `main`: an update at start, then one per
/// interval (`wait.JitterUntil`; the simulated clock jitters the wait).
pub async fn run(ctx: Arc<Ctx>) {
    loop {
        for node in ctx.list(kinds::NODES, None) {
            update(&ctx, obj::name(&node));
        }
        ctx.sleep(UPDATE_INTERVAL).await;
    }
}

/// The Linux bridges of the node's network state (`getAvailableResources`: netlink links of
/// type bridge, which an OVS bridge is not).
fn bridges(state: &Value) -> BTreeSet<String> {
    state["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == "linux-bridge")
        .filter_map(|i| i["name"].as_str().map(String::from))
        .collect()
}

/// The bridges the node's capacity reports.
fn reported(node: &Value) -> BTreeSet<String> {
    node["status"]["capacity"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, _)| name.strip_prefix(RESOURCE_PREFIX).map(String::from))
        .collect()
}

/// kubevirt/bridge-marker pkg/marker/marker.go `Update`: a bridge gone leaves the node's
/// capacity, a new one joins it. Allocatable follows capacity, as kubelet copies an extended
/// resource it does not manage (kubernetes pkg/kubelet/nodestatus/setters.go `MachineInfo`).
fn update(ctx: &Ctx, node: &str) {
    let Some(object) = ctx.get(kinds::NODES, "", node) else {
        return;
    };
    let available = bridges(&nmstate::current(ctx, node));
    let reported = reported(&object);
    if available == reported {
        return;
    }
    ctx.write(kinds::NODES, "", node, |n| {
        for list in ["capacity", "allocatable"] {
            let resources = obj::ensure(n, &format!("/status/{list}"));
            if let Some(map) = resources.as_object_mut() {
                map.retain(|name, _| {
                    name.strip_prefix(RESOURCE_PREFIX)
                        .is_none_or(|bridge| available.contains(bridge))
                });
            }
            for bridge in &available {
                resources[format!("{RESOURCE_PREFIX}{bridge}")] = json!(AVAILABLE);
            }
        }
    });
}

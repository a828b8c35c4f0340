//! Conformance of the simulated cluster with upstream KubeVirt v1.9.0, checked through the API
//! only: each test drives the simulator as a client would and names, in its doc comment, the
//! upstream function whose behaviour it pins. One module per area.

#[path = "../common/mod.rs"]
mod common;

mod access_review;
mod api_shape;
mod bridge_cni;
mod console;
mod data_source;
mod data_volume;
mod guest_access;
mod guest_os;
mod hyperconverged;
mod kubemacpool;
mod kubevirt_cr;
mod launcher_pod;
mod memory_hotplug;
mod migration;
mod monitoring;
mod network_live_update;
mod nic_hotplug_ports;
mod nic_unplug;
mod nmstate;
mod port_forward;
mod preferences;
mod primary_udn;
mod protobuf;
mod storage;
mod udn_ipam;
mod udn_networks;
mod untidy_nodes;
mod vmi_status;
mod webhooks;
mod workloads;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{json, Value};

pub use common::virt::*;
pub use common::*;

pub(crate) fn vm_api(client: &kube::Client) -> Api<DynamicObject> {
    api(client, "VirtualMachine", "virtualmachines")
}

/// Applies a JSON patch to VM `name`.
pub(crate) async fn json_patch_vm(client: &kube::Client, name: &str, ops: Value) {
    let patch: json_patch::Patch = serde_json::from_value(ops).unwrap();
    vm_api(client)
        .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap();
}

/// The condition `ty` of an object.
pub(crate) fn condition<'a>(o: &'a Value, ty: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

/// An object's resourceVersion: the simulator's are a counter that orders every write.
pub(crate) fn version(o: &Value) -> u64 {
    o["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A condition's status, reason and message, to compare with upstream's in one assert.
pub(crate) fn status_reason_message(c: &Value) -> (Option<&str>, Option<&str>, Option<&str>) {
    (
        c["status"].as_str(),
        c["reason"].as_str(),
        c["message"].as_str(),
    )
}

/// Every migration of the namespace.
pub(crate) async fn migrations(client: &kube::Client) -> Vec<Value> {
    let list = vmims(client).list(&Default::default()).await.unwrap();
    list.items.iter().map(value).collect()
}

/// A VM on `nad` (see [`common::net::vm_on`]) that cannot live-migrate: a ReadWriteOnce data
/// disk.
pub(crate) async fn non_migratable_vm_on(
    client: &kube::Client,
    name: &str,
    nad: &str,
    addresses: &[&str],
) -> DynamicObject {
    let mut vm = value(&common::net::vm_on(name, nad, addresses, "worker-0"));
    add_rwo_disk(client, &mut vm, &format!("{name}-data")).await;
    serde_json::from_value(vm).unwrap()
}

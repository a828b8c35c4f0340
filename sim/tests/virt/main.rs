//! The simulated OpenShift Virtualization world, observed through kube::Api as a scenario
//! would: boot, guest SSH, migrations and their policies, admission, drain and hotplug.
//! Shared helpers live in ../common (virt.rs, net.rs, user_networks.rs); each flow has its module.

#[path = "../common/mod.rs"]
mod common;

mod boot;
mod drain;
mod hotplug;
mod lifecycle;
mod matrix;
mod migration;
mod network;
mod nic_hotplug;
mod shell;
mod udn;
mod udn_requested;
mod windows;

use futures::TryStreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{json, Value};
use vstp_sim::SimHandle;

pub use common::virt::*;
pub use common::*;

pub(crate) async fn policy(client: &kube::Client, spec: Value) {
    let p: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "migrations.kubevirt.io/v1alpha1", "kind": "MigrationPolicy",
        "metadata": {"name": "slow"}, "spec": spec}),
    )
    .unwrap();
    api(client, "MigrationPolicy", "migrationpolicies")
        .create(&PostParams::default(), &p)
        .await
        .unwrap();
}

pub(crate) async fn stressed_migration(
    policy_spec: Value,
) -> (kube::Client, Value, Value, SimHandle) {
    migration_dirtied_from("/dev/urandom", policy_spec).await
}

/// A migration of a guest whose dd keeps rewriting 350 MiB of tmpfs from `source`.
pub(crate) async fn migration_dirtied_from(
    source: &str,
    policy_spec: Value,
) -> (kube::Client, Value, Value, SimHandle) {
    let (sim, client) = cluster().await;
    let mut spec = json!({"selectors": {"virtualMachineInstanceSelector": {"app": "vm1"}}, "bandwidthPerMigration": "5Mi", "completionTimeoutPerGiB": 20});
    json_patch::merge(&mut spec, &policy_spec);
    policy(&client, spec).await;
    boot(&client, "vm1", json!({})).await;
    ssh(
        &client,
        "vm1",
        KEY_FILE,
        &format!("sh -c 'while :; do dd if={source} of=/dev/shm/dirty bs=1M count=350 conv=notrunc status=none; done' >/dev/null 2>&1 &"),
    )
    .await
    .unwrap();
    let (_, last) = migrate(&client, "vm1").await;
    let vmi = value(&vmis(&client).get("vm1").await.unwrap());
    (client, last, vmi, sim)
}

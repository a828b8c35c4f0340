//! The workload updater: a VMI that needs a migration to apply a change (MigrationRequired,
//! HotVCPUChange, HotMemoryChange) gets a `kubevirt-workload-update-` migration when the
//! KubeVirt CR allows LiveMigrate and the cluster has a free migration slot; one that found
//! none is looked at again when a migration ends.

use std::sync::Arc;

use serde_json::json;

use super::{Ctx, Key};
use crate::faults::Fault;
use crate::kinds;
use crate::obj;

/// Whether a change waits for a migration to apply it.
fn needs_migration(v: &serde_json::Value) -> bool {
    obj::condition_is(v, "MigrationRequired") == Some(true)
        || obj::condition(v, "HotVCPUChange").is_some()
        || obj::condition_is(v, "HotMemoryChange") == Some(true)
}

pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    // Checking for a running migration and creating one must not interleave with another
    // reconcile of the same VMI, or both create one.
    let _one_at_a_time = ctx.updating.lock().unwrap_or_else(|e| e.into_inner());
    let Some(v) = ctx.get(kinds::VMIS, ns, name) else {
        return;
    };
    let config = ctx.config();
    if !needs_migration(&v)
        || !config.live_migrate_updates
        || obj::str_at(&v, "/status/phase") != "Running"
        || obj::deleting(&v)
    {
        return;
    }
    // kubevirt/kubevirt pkg/virt-controller/watch/workload-updater/workload-updater.go
    // getUpdateData (v1.9.0): only an IsMigratable() VMI is migrated; the Evict method that
    // would evict the others is not in the seeded CR and not modelled.
    if ctx.active_migration_of(ns, name).is_some() {
        return;
    }
    if !super::migratable::is_migratable(&v) {
        if ctx.faults.has(Fault::NonMigratableMigratedLate) {
            migrate_late(ctx, &v);
        }
        return;
    }
    // The VMI read above may predate a migration that has ended since (the migration flow
    // does not wait for this lock); read after that check, it shows what the migration left.
    if !ctx
        .get(kinds::VMIS, ns, name)
        .is_some_and(|v| needs_migration(&v))
    {
        return;
    }
    let limit = config.migrations["parallelMigrationsPerCluster"]
        .as_u64()
        .unwrap_or(5) as usize;
    if ctx.active_migrations().len() >= limit {
        ctx.state().awaiting_slot.insert((ns.into(), name.into()));
        return;
    }
    // No back-off here after a failed attempt: the migration controller holds the next
    // migration Pending (migration/backoff.rs).
    let _ = super::admission::create_migration(ctx, workload_update(ns, name));
}

/// The migration the workload updater creates for VMI `ns/name`.
fn workload_update(ns: &str, name: &str) -> serde_json::Value {
    json!({
        "metadata": {"generateName": "kubevirt-workload-update-", "namespace": ns,
                     "annotations": {"kubevirt.io/workloadUpdateMigration": ""}},
        "spec": {"vmiName": name, "priority": "user-triggered"},
    })
}

/// The `non-migratable-migrated-late` regression: the updater comes back to a non-migratable
/// VMI that still asks for a migration its `=SECS` later and migrates it anyway, past the
/// migration webhook's LiveMigratable check (once per VMI).
fn migrate_late(ctx: &Arc<Ctx>, vmi: &serde_json::Value) {
    let uid = obj::uid(vmi).to_string();
    if !ctx.state().migrated_late.insert(uid.clone()) {
        return;
    }
    let (ns, name) = (obj::namespace(vmi).to_string(), obj::name(vmi).to_string());
    let ctx = ctx.clone();
    tokio::spawn(async move {
        ctx.sleep(ctx.faults.late(Fault::NonMigratableMigratedLate))
            .await;
        let same = ctx
            .get(kinds::VMIS, &ns, &name)
            .filter(|v| obj::uid(v) == uid);
        if same.is_some_and(|v| needs_migration(&v))
            && ctx.active_migration_of(&ns, &name).is_none()
        {
            let vmim = workload_update(&ns, &name);
            let _ = ctx
                .store
                .create(kinds::VMIMS, vmim, crate::store::Scope::Main, false);
        }
    });
}

/// A migration ended or went away: the VMIs that waited for a slot are looked at again
/// (upstream's updater re-syncs on every migration change).
pub fn slot_freed(ctx: &Arc<Ctx>) {
    let waiting = std::mem::take(&mut ctx.state().awaiting_slot);
    for (ns, name) in waiting {
        ctx.requeue(Key::Vmi(ns, name));
    }
}

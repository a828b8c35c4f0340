//! What virt-handler writes back into a VMI's status from the domain on every sync of it. A
//! user's write of the VMI (its CRD has no status subresource, so a status patch is stored) is
//! an update event, and that event is what triggers the sync that rewrites it:
//! - the interfaces' MACs: kubevirt/kubevirt pkg/network/setup/netstat.go NetStat.UpdateStatus
//!   rebuilds `status.interfaces` from the domain's interfaces (ifacesStatusFromDomainInterfaces
//!   takes the MAC from the domain), called from pkg/virt-handler/vm.go
//!   updateVMIStatusFromDomain;
//! - the migration mode: pkg/virt-handler/migration-source.go setMigrationProgressStatus copies
//!   the domain's migration metadata mode into `status.migrationState.mode`, only while
//!   isMigrationSource holds (the VMI's node is this handler's and is the migration's source
//!   node). Once the migration completed, the VMI's node is the target: a mode written then
//!   stays.

use serde_json::{json, Value};

use super::Ctx;
use crate::{guest, obj};

/// What the domain of one VMI reports, read before the write (the write runs under the
/// store's lock and must not take the guest's).
#[derive(Debug, Default)]
pub struct Domain {
    /// MAC of each network's NIC in the domain.
    macs: Vec<(String, String)>,
    /// The domain's migration metadata: migration UID and mode.
    migration: Option<(String, String)>,
}

pub fn read(ctx: &Ctx, vmi: &Value) -> Domain {
    let uid = obj::uid(vmi);
    let macs = ctx
        .guests
        .get(uid)
        .map(|g| {
            let g = guest::lock(&g);
            g.nics
                .iter()
                .map(|n| (n.network.clone(), n.mac.clone()))
                .collect()
        })
        .unwrap_or_default();
    let migration = ctx.state().migration_modes.get(uid).cloned();
    Domain { macs, migration }
}

/// The domain's migration metadata records `mode` for the migration the VMI runs (what the
/// source's migration monitor stores, pkg/virt-launcher/virtwrap/live-migration-source.go).
pub fn record_mode(ctx: &Ctx, vmi: &Value, mode: &str) {
    let migration = obj::str_at(vmi, "/status/migrationState/migrationUid").to_string();
    ctx.state()
        .migration_modes
        .insert(obj::uid(vmi).to_string(), (migration, mode.to_string()));
}

pub fn forget(ctx: &Ctx, vmi_uid: &str) {
    ctx.state().migration_modes.remove(vmi_uid);
}

/// The MAC of each interface entry the domain reports, as the domain has it. Runs under the
/// store's lock.
pub fn macs_from_domain(v: &mut Value, domain: &Domain) {
    for entry in v["status"]["interfaces"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let from_domain = obj::str_at(entry, "/infoSource")
            .split(", ")
            .any(|s| s == "domain");
        let nic = domain
            .macs
            .iter()
            .find(|(net, _)| entry["name"] == net.as_str());
        if let (true, Some((_, mac))) = (from_domain, nic) {
            entry["mac"] = json!(mac);
        }
    }
}

/// The migration mode as the domain's migration metadata has it, while the VMI's node is the
/// migration's source. Runs under the store's lock.
pub fn mode_from_domain(v: &mut Value, domain: &Domain) {
    if let Some((migration, mode)) = &domain.migration {
        let state = &v["status"]["migrationState"];
        if is_migration_source(v) && state["migrationUid"] == migration.as_str() {
            v["status"]["migrationState"]["mode"] = json!(mode);
        }
    }
}

/// pkg/virt-handler/migration-source.go isMigrationSource: the VMI still runs on the node its
/// migration started from.
fn is_migration_source(v: &Value) -> bool {
    let source = obj::str_at(v, "/status/migrationState/sourceNode");
    !source.is_empty() && obj::str_at(v, "/status/nodeName") == source
}

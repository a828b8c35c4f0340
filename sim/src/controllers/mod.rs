//! OpenShift Virtualization's behaviour: KubeVirt's controllers (VM, VMI, migration,
//! evacuation, workload updater), its webhooks and subresources, run against the store.
//!
//! One task receives every committed change and runs the level-triggered reconcilers; flows
//! that take modelled time (boot, migration, shutdown) run as tasks of their own that write
//! each observable step as it happens, in the reference's order.

mod admission;
mod boot;
mod bridge_marker;
mod console;
pub mod convergence;
mod credentials;
pub mod datasource;
mod datavolume;
mod evacuation;
mod events;
mod guest_time;
mod handler_sync;
mod hco;
pub mod hotplug;
mod kubemacpool;
mod launcher;
mod lifecycle;
mod migratable;
mod migration;
mod netadmit;
mod netmigration;
mod netresources;
mod netsync;
mod network;
mod nicunplug;
pub mod nmstate;
mod pciports;
mod podnet;
pub mod policy;
mod portforward;
mod preference;
mod real_guest;
pub(crate) mod serial_log;
mod subresources;
pub mod udn;
mod updater;
mod vm;
mod vmi;
mod vmvolumes;
pub(crate) mod workloads;
mod world;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, Notify};

use crate::error::ApiResult;
use crate::guest::Guests;
use crate::kinds::{self, KindId};
use crate::obj;
use crate::store::{DeleteOptions, Event, EventType, Scope, Selectors, Store};
use crate::world::nodes::ClusterSpec;

/// The simulated OpenShift Virtualization cluster: nodes, KubeVirt and guests.
pub struct Virtualization {
    spec: ClusterSpec,
    ctx: Mutex<Option<Arc<Ctx>>>,
    /// Namespaces that opted out of KubeMacPool, seen at VM admission.
    kmp_opt_out: Mutex<HashSet<String>>,
    /// KubeMacPool's memory of the range and the MACs given.
    kmp: kubemacpool::Pool,
}

impl Virtualization {
    pub fn new(spec: ClusterSpec) -> Result<Virtualization, String> {
        spec.check()?;
        Ok(Virtualization {
            spec,
            ctx: Mutex::new(None),
            kmp_opt_out: Mutex::new(HashSet::new()),
            kmp: kubemacpool::Pool::default(),
        })
    }

    fn ctx(&self) -> Option<Arc<Ctx>> {
        self.ctx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What the controllers share.
pub struct Ctx {
    pub store: Arc<Store>,
    pub spec: ClusterSpec,
    pub guests: Arc<Guests>,
    pub sshd: Arc<russh::server::Config>,
    pub net: Arc<dyn crate::guest::Network>,
    state: Mutex<State>,
    requeue: mpsc::UnboundedSender<Key>,
    /// Signalled when a node changes, for pods waiting for a place.
    pub nodes_changed: Notify,
    /// Signalled when a NAD or a node's network state changes, for pods whose sandbox failed.
    pub network_changed: Notify,
    /// The faults the simulator was started with (product regressions are checked here).
    pub faults: Arc<crate::faults::Faults>,
    /// OVN-K's address pools, held while an address is chosen and claimed, so two launchers
    /// never get the same one.
    pub ipam: Mutex<udn::Pools>,
    /// Held while the workload updater decides on and creates a migration.
    pub updating: Mutex<()>,
}

/// Memory of the controllers that the API objects do not carry.
#[derive(Default)]
pub struct State {
    /// VMIs (by UID) whose boot or shutdown task runs.
    pub booting: HashSet<String>,
    pub stopping: HashSet<String>,
    /// The VM template spec each VMI (by UID) runs, with live updates applied.
    pub running_templates: HashMap<String, Value>,
    /// Migrations (by VMIM UID) that run, with the sender that aborts them.
    pub migrations: HashMap<String, tokio::sync::watch::Sender<Option<migration::Stop>>>,
    /// VMs (namespace, name) to start again once their VMI is gone.
    pub restarts: HashSet<(String, String)>,
    /// VMs with Manual run strategy asked to start.
    pub start_requests: HashSet<(String, String)>,
    /// Last pod IP handed out per node.
    pub pod_ips: HashMap<String, u32>,
    /// The PCIe ports for hot-plugged NICs each VMI's domain (by UID) started with.
    pub hotplug_ports: HashMap<String, pciports::Ports>,
    /// VMIs (by UID) with a pending NIC change, and when its grace period ends.
    pub nic_grace: HashMap<String, tokio::time::Instant>,
    /// VMIs (by UID) whose domain is letting go of NICs marked absent.
    pub detaching: HashSet<String>,
    /// VMIs (by UID) that the nic-hotplug-skips-migration regression plugs a NIC into.
    pub plugging: HashSet<String>,
    /// Keys with a delayed reconcile already on its way.
    pub requeues: HashSet<Key>,
    /// The generation of each NNCP (by name) whose enactment was started.
    pub nncp_generations: HashMap<String, i64>,
    /// When each migration (by VMIM UID) that ran ended: what its VMI's back-off counts from.
    pub migrations_ended: HashMap<String, tokio::time::Instant>,
    /// VMIs (namespace, name) the workload updater left for want of a free migration slot.
    pub awaiting_slot: HashSet<(String, String)>,
    /// The serial logs of launchers (by "namespace/pod") a guest has migrated out of: the
    /// kubelet serves a finished container's log until its pod goes.
    pub serial_logs_left: HashMap<String, String>,
    /// Non-migratable VMIs (by UID) the `non-migratable-migrated-late` regression will migrate.
    pub migrated_late: HashSet<String>,
    /// DataVolumes (by UID) whose clone runs.
    pub cloning: HashSet<String>,
    /// VMIs (by UID) held Pending until their DataVolumes are populated.
    pub awaiting_volumes: HashSet<String>,
    /// Each VMI's (by UID) domain migration metadata: the migration's UID and its mode.
    pub migration_modes: HashMap<String, (String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Vm(String, String),
    Vmi(String, String),
    Migrations,
}

impl Ctx {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn now(&self) -> String {
        self.store.clock().timestamp()
    }

    pub async fn sleep(&self, modelled_secs: f64) {
        self.store
            .clock()
            .sleep(Duration::from_secs_f64(modelled_secs))
            .await
    }

    /// Runs `key`'s reconciler again after a modelled delay (a timer, not a poll).
    pub fn requeue_after(self: &Arc<Self>, key: Key, modelled_secs: f64) {
        let ctx = self.clone();
        tokio::spawn(async move {
            ctx.sleep(modelled_secs).await;
            let _ = ctx.requeue.send(key);
        });
    }

    /// Like [`Ctx::requeue_after`], unless `key` already has one on its way (a work queue's
    /// AddAfter keeps one entry per key).
    pub fn requeue_once_after(self: &Arc<Self>, key: Key, modelled_secs: f64) {
        if !self.state().requeues.insert(key.clone()) {
            return;
        }
        let ctx = self.clone();
        tokio::spawn(async move {
            ctx.sleep(modelled_secs).await;
            ctx.state().requeues.remove(&key);
            let _ = ctx.requeue.send(key);
        });
    }

    pub fn requeue(&self, key: Key) {
        let _ = self.requeue.send(key);
    }

    pub fn get(&self, kind: KindId, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.store.get(kind, ns, name)
    }

    pub fn list(&self, kind: KindId, ns: Option<&str>) -> Vec<Arc<Value>> {
        self.store.list(kind, ns, &Selectors::default()).0
    }

    /// A controller's write of spec and status together; a vanished object is not an error
    /// worth reporting (its deletion raced the write).
    pub fn write(
        &self,
        kind: KindId,
        ns: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Option<Arc<Value>> {
        self.store
            .modify(kind, ns, name, Scope::All, false, |old| {
                let mut new = (*old).clone();
                change(&mut new);
                Ok(new)
            })
            .ok()
    }

    /// Like [`Ctx::write`], only while the object is still the one with `uid`.
    pub fn write_uid(
        &self,
        kind: KindId,
        ns: &str,
        name: &str,
        uid: &str,
        change: impl FnOnce(&mut Value),
    ) -> Option<Arc<Value>> {
        self.store
            .modify(kind, ns, name, Scope::All, false, |old| {
                if obj::uid(old) != uid {
                    return Err(crate::error::ApiError::conflict(
                        kinds::get(kind),
                        name,
                        "the object was replaced",
                    ));
                }
                let mut new = (*old).clone();
                change(&mut new);
                Ok(new)
            })
            .ok()
    }

    /// [`Ctx::write_uid`] of the object `seen` was read from.
    pub fn write_same(
        &self,
        kind: KindId,
        seen: &Value,
        change: impl FnOnce(&mut Value),
    ) -> Option<Arc<Value>> {
        let (ns, name, uid) = (obj::namespace(seen), obj::name(seen), obj::uid(seen));
        self.write_uid(kind, ns, name, uid, change)
    }

    pub fn create(&self, kind: KindId, object: Value) -> ApiResult<Arc<Value>> {
        self.store.create(kind, object, Scope::All, false)
    }

    pub fn delete(&self, kind: KindId, ns: &str, name: &str) {
        let _ = self.store.delete(kind, ns, name, &DeleteOptions::default());
    }

    pub fn config(&self) -> crate::world::config::VirtConfig {
        crate::world::config::VirtConfig::read(&self.store)
    }

    /// Unfinished migrations (any VMI).
    pub fn active_migrations(&self) -> Vec<Arc<Value>> {
        self.list(kinds::VMIMS, None)
            .into_iter()
            .filter(|m| !migration::is_final(m))
            .collect()
    }

    /// The unfinished migration of one VMI, if any.
    pub fn active_migration_of(&self, ns: &str, vmi: &str) -> Option<Arc<Value>> {
        self.list(kinds::VMIMS, Some(ns))
            .into_iter()
            .find(|m| obj::str_at(m, "/spec/vmiName") == vmi && !migration::is_final(m))
    }
}

async fn run(
    ctx: Arc<Ctx>,
    mut events: broadcast::Receiver<Arc<Event>>,
    mut requeued: mpsc::UnboundedReceiver<Key>,
) {
    resync(&ctx);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => on_event(&ctx, &event),
                // Fell behind a burst of writes: look at everything again.
                Err(broadcast::error::RecvError::Lagged(_)) => resync(&ctx),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            Some(key) = requeued.recv() => reconcile(&ctx, key),
        }
    }
}

fn resync(ctx: &Arc<Ctx>) {
    hco::reconcile(ctx);
    for vm in ctx.list(kinds::VMS, None) {
        reconcile(
            ctx,
            Key::Vm(obj::namespace(&vm).into(), obj::name(&vm).into()),
        );
    }
    for vmi in ctx.list(kinds::VMIS, None) {
        reconcile(
            ctx,
            Key::Vmi(obj::namespace(&vmi).into(), obj::name(&vmi).into()),
        );
    }
    for m in ctx.list(kinds::VMIMS, None) {
        migration::reconcile(ctx, obj::namespace(&m), obj::name(&m));
    }
    reconcile(ctx, Key::Migrations);
    for policy in ctx.list(kinds::NNCPS, None) {
        nmstate::reconcile(ctx, obj::name(&policy));
    }
    workloads::resync(ctx);
    datasource::reconcile_all(ctx);
    datavolume::reconcile_all(ctx);
}

fn on_event(ctx: &Arc<Ctx>, e: &Event) {
    let ns = e.namespace.clone();
    let name = obj::name(&e.object).to_string();
    workloads::on_event(ctx, e);
    match e.kind {
        kinds::VMS => {
            udn::claims::reconcile_vm(ctx, &ns, &name);
            reconcile(ctx, Key::Vm(ns, name))
        }
        kinds::VMIS => {
            udn::claims::reconcile_vmi(ctx, &ns, &name);
            if e.kind_of_change == EventType::Deleted {
                vmi::forget(ctx, &e.object);
            }
            reconcile(ctx, Key::Vmi(ns.clone(), name.clone()));
            reconcile(ctx, Key::Vm(ns, name));
        }
        kinds::PODS => {
            if e.kind_of_change == EventType::Deleted {
                migration::pod_gone(ctx, &e.object);
            }
            if let Some(vmi) = obj::annotation(&e.object, "kubevirt.io/domain") {
                reconcile(ctx, Key::Vmi(ns, vmi.to_string()));
            }
        }
        kinds::VMIMS => {
            if e.kind_of_change == EventType::Deleted {
                ctx.state().migrations_ended.remove(obj::uid(&e.object));
            }
            migration::reconcile(ctx, &ns, &name);
            reconcile(ctx, Key::Migrations);
            let vmi = obj::str_at(&e.object, "/spec/vmiName").to_string();
            reconcile(ctx, Key::Vmi(ns, vmi));
            if e.kind_of_change == EventType::Deleted || migration::is_final(&e.object) {
                updater::slot_freed(ctx);
            }
        }
        kinds::NODES => {
            ctx.nodes_changed.notify_waiters();
            evacuation::on_node(ctx, &e.object);
        }
        kinds::KUBEVIRTS => resync(ctx),
        kinds::HYPERCONVERGEDS => hco::reconcile(ctx),
        kinds::VMCLUSTERPREFERENCES => {
            for (ns, vm) in preference::vms_naming(ctx, &name) {
                reconcile(ctx, Key::Vm(ns, vm));
            }
        }
        kinds::NNCPS => nmstate::reconcile(ctx, &name),
        kinds::NADS | kinds::NNSS => ctx.network_changed.notify_waiters(),
        kinds::UDNS => udn::reconcile_udn(ctx, &ns, &name),
        kinds::CUDNS => udn::reconcile_cudn(ctx, &name),
        kinds::DATASOURCES => {
            datasource::reconcile(ctx, &ns, &name);
            datavolume::reconcile_all(ctx);
        }
        kinds::PVCS => {
            datasource::reconcile_all(ctx);
            datavolume::reconcile_cloning(ctx, &e.object);
        }
        kinds::DATAVOLUMES => {
            datavolume::reconcile(ctx, &ns, &name);
            for key in vmvolumes::concerned(ctx, &e.object) {
                reconcile(ctx, key);
            }
        }
        kinds::NAMESPACES => {
            for cudn in ctx.list(kinds::CUDNS, None) {
                udn::reconcile_cudn(ctx, obj::name(&cudn));
            }
        }
        _ => {}
    }
}

fn reconcile(ctx: &Arc<Ctx>, key: Key) {
    match key {
        Key::Vm(ns, name) => vm::reconcile(ctx, &ns, &name),
        Key::Vmi(ns, name) => {
            vmi::reconcile(ctx, &ns, &name);
            updater::reconcile(ctx, &ns, &name);
            evacuation::reconcile(ctx, &ns, &name);
        }
        Key::Migrations => migration::start_pending(ctx),
    }
}

//! How the API server reaches the simulated OpenShift Virtualization: its start (the
//! controllers' context and the objects a fresh cluster has), the admission webhooks and the
//! subresources (VM and VMI actions, port-forward, console).

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{mpsc, Notify};

use super::{
    admission, bridge_marker, console, evacuation, kubemacpool, nmstate, portforward, preference,
    run, serial_log, subresources, udn, Ctx, State, Virtualization,
};
use crate::error::ApiResult;
use crate::guest::Guests;
use crate::kinds::{self, KindId};
use crate::obj;
use crate::store::{Scope, Store};
use crate::world::config::{kubevirt_cr, KUBEVIRT_NAMESPACE};
use crate::world::nodes::ClusterSpec;
use crate::world::{GuestStream, VirtCall, VirtReply, World};

impl World for Virtualization {
    fn start(self: Arc<Self>, store: Arc<Store>, faults: Arc<crate::faults::Faults>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let guests = Arc::new(Guests::default());
        let ctx = Arc::new(Ctx {
            store: store.clone(),
            spec: self.spec.clone(),
            guests: guests.clone(),
            sshd: crate::guest::ssh::config(),
            net: Arc::new(crate::world::fabric::Fabric::new(guests)),
            state: Mutex::new(State::default()),
            requeue: tx,
            nodes_changed: Notify::new(),
            network_changed: Notify::new(),
            faults,
            ipam: Mutex::new(udn::Pools::default()),
            updating: Mutex::new(()),
        });
        if let Some(lane) = self.spec.guests.lane() {
            lane.switch
                .set_segments(super::real_guest::segments(ctx.guests.clone()));
            lane.switch
                .set_services(super::real_guest::services(ctx.guests.clone()));
        }
        seed(&store, &self.spec);
        super::workloads::seed(&ctx);
        *self.ctx.lock().unwrap_or_else(|e| e.into_inner()) = Some(ctx.clone());
        let events = store.events();
        tokio::spawn(bridge_marker::run(ctx.clone()));
        tokio::spawn(run(ctx, events, rx));
    }

    fn admit_create(&self, store: &Store, kind: KindId, object: &mut Value) -> ApiResult<()> {
        let opted_out = admission::kubemacpool_opted_out(store, kind, object);
        if opted_out {
            self.kmp_opt_out
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(obj::namespace(object).to_string());
        }
        admission::create(store, kind, object, (!opted_out).then_some(&self.kmp))
    }

    fn admit_update(&self, kind: KindId, old: &Value, new: &mut Value) -> ApiResult<()> {
        let opted_out = self
            .kmp_opt_out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(obj::namespace(old));
        admission::update(kind, old, new, (!opted_out).then_some(&self.kmp))
    }

    fn evict(&self, _store: &Store, pod: &Value, dry_run: bool) -> ApiResult<()> {
        match self.ctx() {
            Some(ctx) => evacuation::admit_eviction(&ctx, pod, dry_run),
            None => Ok(()),
        }
    }

    fn vm_call(&self, _store: &Store, call: VirtCall<'_>) -> ApiResult<VirtReply> {
        subresources::vm_call(
            &self.ctx().expect("the world starts before the API serves"),
            call,
        )
    }

    fn vmi_call(&self, _store: &Store, call: VirtCall<'_>) -> ApiResult<VirtReply> {
        subresources::vmi_call(
            &self.ctx().expect("the world starts before the API serves"),
            call,
        )
    }

    fn portforward(
        &self,
        _store: &Store,
        forward: &crate::world::PortForward<'_>,
    ) -> ApiResult<Box<dyn GuestStream>> {
        portforward::dial(
            &self.ctx().expect("the world starts before the API serves"),
            forward,
        )
    }

    fn guests(&self) -> Option<&'static str> {
        Some(match self.spec.guests.lane() {
            Some(_) => "qemu",
            None => "emulated",
        })
    }

    fn serial_log(&self, _store: &Store, pod: &Value) -> Option<String> {
        serial_log::text(self.ctx().as_ref()?, pod)
    }

    fn serial_log_grown(&self, _store: &Store, pod: &Value) -> BoxFuture<'static, ()> {
        match self.ctx() {
            Some(ctx) => serial_log::grown(&ctx, pod),
            None => Box::pin(std::future::pending()),
        }
    }

    fn console(
        &self,
        _store: &Store,
        namespace: &str,
        name: &str,
    ) -> ApiResult<Box<dyn GuestStream>> {
        console::open(
            &self.ctx().expect("the world starts before the API serves"),
            namespace,
            name,
        )
    }
}

/// The objects a fresh cluster has: nodes, the KubeVirt namespace and CR, the common
/// cluster preferences, the storage classes and their profiles.
fn seed(store: &Store, spec: &ClusterSpec) {
    for node in crate::world::inventory::node_objects(spec) {
        let _ = store.create(
            kinds::NNSS,
            nmstate::initial_state(&node),
            Scope::All,
            false,
        );
        let _ = store.create(kinds::NODES, node, Scope::All, false);
    }
    let ns = serde_json::json!({"metadata": {"name": KUBEVIRT_NAMESPACE, "labels": {"openshift.io/cluster-monitoring": "true"}}});
    let _ = store.create(kinds::NAMESPACES, ns, Scope::All, false);
    let _ = store.create(kinds::KUBEVIRTS, kubevirt_cr(), Scope::All, false);
    let range = kubemacpool::range_config();
    let _ = store.create(kinds::CONFIGMAPS, range, Scope::All, false);
    for preference in preference::common::windows_preferences() {
        let _ = store.create(kinds::VMCLUSTERPREFERENCES, preference, Scope::All, false);
    }
    // OVN-Kubernetes' configuration exists from the start, as OpenShift's network operator
    // renders it before any workload.
    crate::world::ovnk::publish(store);
    crate::world::storage::seed(store);
    super::datasource::seed(store);
    super::hco::seed(store);
}

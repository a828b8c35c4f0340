//! Kubernetes' own controllers for the workloads a drain meets besides VMs: the DaemonSet,
//! Deployment and ReplicaSet controllers, the scheduler and kubelet for their pods, the
//! disruption controller behind PodDisruptionBudgets, and virt-operator's view of virt-handler
//! (the KubeVirt CR's conditions). The eviction API's budget check is the API server's
//! (`api/eviction.rs`).

mod daemonset;
mod disruption;
mod kubelet;
mod operator;
mod pods;
mod replicaset;
mod seed;

use std::sync::Arc;

use super::Ctx;
use crate::kinds;
use crate::obj;
use crate::store::Event;

pub use disruption::{allowed_condition, covered};
use pods::controller_of;

pub fn on_event(ctx: &Arc<Ctx>, e: &Event) {
    let ns = e.namespace.as_str();
    match e.kind {
        kinds::DEPLOYMENTS => replicaset::reconcile_deployment(ctx, ns, obj::name(&e.object)),
        kinds::REPLICASETS => {
            replicaset::reconcile(ctx, ns, obj::name(&e.object));
            if let Some(("Deployment", name, _)) = controller_of(&e.object) {
                replicaset::reconcile_deployment(ctx, ns, name);
            }
        }
        kinds::DAEMONSETS => {
            daemonset::reconcile(ctx, ns, obj::name(&e.object));
            operator::reconcile(ctx);
        }
        kinds::PDBS => disruption::reconcile(ctx, ns, obj::name(&e.object)),
        kinds::PODS => on_pod(ctx, e),
        kinds::NODES => {
            for ds in ctx.list(kinds::DAEMONSETS, None) {
                daemonset::reconcile(ctx, obj::namespace(&ds), obj::name(&ds));
            }
            kubelet::schedule_pending(ctx);
        }
        _ => {}
    }
}

fn on_pod(ctx: &Arc<Ctx>, e: &Event) {
    let ns = e.namespace.as_str();
    kubelet::reconcile(ctx, &e.object);
    match controller_of(&e.object) {
        Some(("ReplicaSet", name, _)) => replicaset::reconcile(ctx, ns, name),
        Some(("DaemonSet", name, _)) => daemonset::reconcile(ctx, ns, name),
        _ => {}
    }
    disruption::reconcile_namespace(ctx, ns);
}

/// The workloads a fresh cluster runs, settled, with every controller caught up on them.
pub fn seed(ctx: &Arc<Ctx>) {
    seed::create_and_settle(ctx);
    resync(ctx);
}

/// Everything again (at start, or after falling behind the event stream).
pub fn resync(ctx: &Arc<Ctx>) {
    for d in ctx.list(kinds::DEPLOYMENTS, None) {
        replicaset::reconcile_deployment(ctx, obj::namespace(&d), obj::name(&d));
    }
    for rs in ctx.list(kinds::REPLICASETS, None) {
        replicaset::reconcile(ctx, obj::namespace(&rs), obj::name(&rs));
    }
    for ds in ctx.list(kinds::DAEMONSETS, None) {
        daemonset::reconcile(ctx, obj::namespace(&ds), obj::name(&ds));
    }
    kubelet::schedule_pending(ctx);
    for pdb in ctx.list(kinds::PDBS, None) {
        disruption::reconcile(ctx, obj::namespace(&pdb), obj::name(&pdb));
    }
    operator::reconcile(ctx);
}

//! The non-VM workloads a fresh cluster already runs, so a drain meets what it meets on
//! OpenShift: virt-handler (a DaemonSet on every worker) and the default router (a Deployment
//! with a replica on every worker, guarded by a budget that allows one disruption).

use std::sync::Arc;

use serde_json::{json, Value};

use super::pods::controller_of;
use super::{daemonset, kubelet, operator, replicaset};
use crate::controllers::Ctx;
use crate::kinds;
use crate::obj;
use crate::store::Scope;
use crate::world::config::KUBEVIRT_NAMESPACE;

const INGRESS_NAMESPACE: &str = "openshift-ingress";
const ROUTER: &str = "router-default";

/// virt-handler as virt-operator renders it (kubevirt pkg/virt-operator/resource/generate/
/// components/daemonsets.go `NewHandlerDaemonSet`), placed on the workers as HCO's default
/// workloads placement does.
fn virt_handler() -> Value {
    let labels = json!({"kubevirt.io": "virt-handler", "prometheus.kubevirt.io": "true"});
    json!({
        "metadata": {"name": operator::VIRT_HANDLER, "namespace": KUBEVIRT_NAMESPACE,
                     "labels": {"kubevirt.io": "virt-handler", "app.kubernetes.io/managed-by": "virt-operator"}},
        "spec": {
            "selector": {"matchLabels": {"kubevirt.io": "virt-handler"}},
            "template": {"metadata": {"labels": labels}, "spec": {
                "nodeSelector": {"kubernetes.io/os": "linux", "node-role.kubernetes.io/worker": ""},
                "priorityClassName": "kubevirt-cluster-critical",
                "containers": [{"name": "virt-handler",
                    "image": "registry.redhat.io/container-native-virtualization/virt-handler-rhel9:v4.22.0",
                    "resources": {"requests": {"cpu": "10m", "memory": "357Mi"}}}],
                "volumes": [{"name": "virt-share-dir", "hostPath": {"path": "/var/run/kubevirt"}}],
            }},
        },
    })
}

/// The default IngressController's router (cluster-ingress-operator pkg/operator/controller/
/// ingress/deployment.go `desiredRouterDeployment`), scaled to one replica per worker so every
/// drain meets one, and its budget (poddisruptionbudget.go `desiredRouterPodDisruptionBudget`:
/// maxUnavailable 25 % from three replicas, which the disruption controller rounds up to one).
fn router(replicas: usize) -> (Value, Value) {
    let selector = json!({"matchLabels": {
        "ingresscontroller.operator.openshift.io/deployment-ingresscontroller": "default"}});
    let deployment = json!({
        "metadata": {"name": ROUTER, "namespace": INGRESS_NAMESPACE},
        "spec": {"replicas": replicas, "selector": selector, "template": {
            "metadata": {"labels": selector["matchLabels"]},
            "spec": {
                "nodeSelector": {"kubernetes.io/os": "linux", "node-role.kubernetes.io/worker": ""},
                "priorityClassName": "system-cluster-critical",
                "containers": [{"name": "router",
                    "image": "quay.io/openshift-release-dev/ocp-v4.0-art-dev:haproxy-router",
                    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}}],
                "volumes": [{"name": "default-certificate", "secret": {"secretName": "router-certs-default"}}],
            }}},
    });
    let pdb = json!({
        "metadata": {"name": ROUTER, "namespace": INGRESS_NAMESPACE},
        "spec": {"maxUnavailable": if replicas >= 3 { json!("25%") } else { json!(1) },
                 "selector": selector},
    });
    (deployment, pdb)
}

/// Creates the workloads and brings them to where a running cluster has them (pods bound and
/// Ready, statuses written), without the modelled start-up delays.
pub fn create_and_settle(ctx: &Arc<Ctx>) {
    let ns = json!({"metadata": {"name": INGRESS_NAMESPACE}});
    let _ = ctx.store.create(kinds::NAMESPACES, ns, Scope::All, false);
    let (deployment, pdb) = router(ctx.spec.workers);
    for (kind, object) in [
        (kinds::DAEMONSETS, virt_handler()),
        (kinds::DEPLOYMENTS, deployment),
        (kinds::PDBS, pdb),
    ] {
        let _ = ctx.create(kind, object);
    }
    daemonset::reconcile(ctx, KUBEVIRT_NAMESPACE, operator::VIRT_HANDLER);
    replicaset::reconcile_deployment(ctx, INGRESS_NAMESPACE, ROUTER);
    for rs in ctx.list(kinds::REPLICASETS, Some(INGRESS_NAMESPACE)) {
        replicaset::reconcile(ctx, INGRESS_NAMESPACE, obj::name(&rs));
    }
    for pod in ctx.list(kinds::PODS, None) {
        if controller_of(&pod).is_some() && obj::str_at(&pod, "/spec/nodeName").is_empty() {
            kubelet::settle(ctx, &pod);
        }
    }
}

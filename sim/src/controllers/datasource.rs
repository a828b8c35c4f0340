//! CDI's DataSource controller: a DataSource is Ready when its source PVC exists, and says why
//! not otherwise (containerized-data-importer pkg/controller/datasource-controller.go
//! `DataSourceReconciler.update` and `handlePvcSource`). The golden images of a fresh cluster
//! are seeded here too.

use serde_json::{json, Value};

use super::Ctx;
use crate::kinds;
use crate::obj;
use crate::store::{Scope, Store};

/// Where OpenShift Virtualization keeps its golden images.
pub const IMAGES_NAMESPACE: &str = "openshift-virtualization-os-images";

/// The Ready condition's status, reason and message for `ds`, as `update` decides them (a
/// snapshot source is not modelled: it reads as not found).
fn readiness(ctx: &Ctx, ds: &Value) -> (bool, &'static str, &'static str) {
    let source = &ds["spec"]["source"];
    let Some(pvc) = source["pvc"].as_object() else {
        if source["snapshot"].is_object() {
            return (false, "NotFound", "Snapshot not found");
        }
        return (false, "NoSource", "No source PVC set");
    };
    let ns = pvc
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or(obj::namespace(ds));
    let name = pvc.get("name").and_then(Value::as_str).unwrap_or_default();
    match ctx.get(kinds::PVCS, ns, name) {
        Some(_) => (true, "Ready", "DataSource is ready to be consumed"),
        None => (false, "NotFound", "PVC not found"),
    }
}

/// Brings the DataSource's `status` up to date, writing only when the condition changes (CDI
/// ignores its own status updates: `addDataSourceControllerWatches` `sameSourceSpec`).
pub fn reconcile(ctx: &Ctx, ns: &str, name: &str) {
    let Some(ds) = ctx.get(kinds::DATASOURCES, ns, name) else {
        return;
    };
    let (ready, reason, message) = readiness(ctx, &ds);
    let status = if ready { "True" } else { "False" };
    let current = obj::condition(&ds, "Ready");
    let same = current
        .is_some_and(|c| c["status"] == status && c["reason"] == reason && c["message"] == message)
        && ds["status"]["source"] == ds["spec"]["source"];
    if same {
        return;
    }
    let now = ctx.now();
    let since = match current {
        Some(c) if c["status"] == status => c["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    ctx.write(kinds::DATASOURCES, ns, name, |d| {
        d["status"]["source"] = d["spec"]["source"].clone();
        d["status"]["conditions"] = json!([{"type": "Ready", "status": status, "reason": reason,
            "message": message, "lastTransitionTime": since, "lastHeartbeatTime": now}]);
    });
}

/// Every DataSource, when a PVC they may name comes or goes.
pub fn reconcile_all(ctx: &Ctx) {
    for ds in ctx.list(kinds::DATASOURCES, None) {
        reconcile(ctx, obj::namespace(&ds), obj::name(&ds));
    }
}

/// The RHEL 9 golden image as a DataImportCron leaves it: an imported PVC and the DataSource
/// pointing at it.
pub fn seed(store: &Store) {
    let ns = json!({"metadata": {"name": IMAGES_NAMESPACE}});
    let _ = store.create(kinds::NAMESPACES, ns, Scope::All, false);
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "rhel9-6a9b2d0c7e1f", "namespace": IMAGES_NAMESPACE},
        "spec": {"accessModes": ["ReadWriteMany"], "volumeMode": "Block",
                 "storageClassName": "ocs-storagecluster-ceph-rbd-virtualization",
                 "resources": {"requests": {"storage": "30Gi"}}},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteMany"], "capacity": {"storage": "30Gi"}}});
    let _ = store.create(kinds::PVCS, pvc, Scope::All, false);
    let ds = json!({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataSource",
        "metadata": {"name": "rhel9", "namespace": IMAGES_NAMESPACE},
        "spec": {"source": {"pvc": {"name": "rhel9-6a9b2d0c7e1f", "namespace": IMAGES_NAMESPACE}}}});
    let _ = store.create(kinds::DATASOURCES, ds, Scope::All, false);
}

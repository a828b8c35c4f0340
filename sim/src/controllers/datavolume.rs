//! CDI's DataVolume controller for clones of a DataSource's PVC, as the clone populator runs
//! them (containerized-data-importer pkg/controller/datavolume/pvc-clone-controller.go
//! `syncClone`, clone-controller-base.go `updateStatusPhaseForPopulator`, controller-base.go
//! `updateStatus` and conditions.go `updateConditions`): the target PVC is created Pending,
//! the DataVolume goes CloneScheduled → CSICloneInProgress (or CloneInProgress when the clone
//! falls back to host-assisted) → Succeeded with the PVC Bound. A source that does not exist
//! stops it before any PVC, with Ready False `CloneWithoutSource`; upstream does not set the
//! phase Failed for it (`validateCloneAndSourcePVC` keeps the phase) and clones once the source
//! appears. Imports, uploads and snapshot sources are not modelled: such a DataVolume is left
//! alone, as CDI leaves one whose DataSource does not exist (`getSourceRefOp`: dataVolumeNop).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{events, Ctx};
use crate::kinds;
use crate::obj;

/// The recorder's component (pvc-clone-controller.go `pvcCloneControllerName`).
const COMPONENT: &str = "datavolume-pvc-clone-controller";
/// Modelled seconds: the populator picking up the claim, a CSI (RBD) clone, a host-assisted
/// copy (reported in four progress steps).
const SCHEDULE: f64 = 3.0;
const CSI_CLONE: f64 = 8.0;
const HOST_CLONE: f64 = 60.0;

/// The PVC a clone copies.
#[derive(Debug, Clone)]
struct Source {
    namespace: String,
    name: String,
}

/// What the target claim is populated by (clone/planner.go `computeStrategyForSourcePVC`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    CsiClone,
    HostAssisted,
}

pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(dv) = ctx.get(kinds::DATAVOLUMES, ns, name) else {
        return;
    };
    let phase = obj::str_at(&dv, "/status/phase");
    if obj::deleting(&dv) || matches!(phase, "Succeeded" | "Failed") {
        return;
    }
    let uid = obj::uid(&dv).to_string();
    if ctx.state().cloning.contains(&uid) {
        return;
    }
    let Some(source) = clone_source(ctx, &dv) else {
        return;
    };
    if ctx
        .get(kinds::PVCS, &source.namespace, &source.name)
        .is_none()
    {
        without_source(ctx, &dv, &source);
        return;
    }
    ctx.state().cloning.insert(uid.clone());
    let ctx = ctx.clone();
    let (ns, name) = (ns.to_string(), name.to_string());
    tokio::spawn(async move {
        let _ = clone(&ctx, &ns, &name, &uid, &source).await;
        ctx.state().cloning.remove(&uid);
    });
}

/// Every DataVolume, when a DataSource changes (pvc-clone-controller.go `addDataSourceWatch`).
pub fn reconcile_all(ctx: &Arc<Ctx>) {
    for dv in ctx.list(kinds::DATAVOLUMES, None) {
        reconcile(ctx, obj::namespace(&dv), obj::name(&dv));
    }
}

/// Every DataVolume that clones `pvc`, when it comes or goes (pvc-clone-controller.go
/// `addCloneWithoutSourceWatch`).
pub fn reconcile_cloning(ctx: &Arc<Ctx>, pvc: &Value) {
    for dv in ctx.list(kinds::DATAVOLUMES, None) {
        let source = clone_source(ctx, &dv);
        if source.is_some_and(|s| s.namespace == obj::namespace(pvc) && s.name == obj::name(pvc)) {
            reconcile(ctx, obj::namespace(&dv), obj::name(&dv));
        }
    }
}

/// The PVC `dv` clones: `spec.source.pvc`, or the one its DataSource names (`getSourceRefOp`
/// and `populateSourceIfSourceRef`); None when CDI's clone controller would not act on it.
fn clone_source(ctx: &Ctx, dv: &Value) -> Option<Source> {
    let ns = obj::namespace(dv);
    let in_ns = |v: &Value, default: &str| v.as_str().unwrap_or(default).to_string();
    let pvc = &dv["spec"]["source"]["pvc"];
    if pvc.is_object() {
        return Some(Source {
            namespace: in_ns(&pvc["namespace"], ns),
            name: in_ns(&pvc["name"], ""),
        });
    }
    let reference = &dv["spec"]["sourceRef"];
    if reference["kind"] != "DataSource" {
        return None;
    }
    let ds_ns = in_ns(&reference["namespace"], ns);
    let ds = ctx.get(kinds::DATASOURCES, &ds_ns, reference["name"].as_str()?)?;
    let pvc = &ds["spec"]["source"]["pvc"];
    pvc.is_object().then(|| Source {
        namespace: in_ns(&pvc["namespace"], &ds_ns),
        name: in_ns(&pvc["name"], ""),
    })
}

/// `validateCloneAndSourcePVC` on a missing source: a Warning event, the phase kept, Bound and
/// Ready False with the reason (`updateBoundCondition` without a PVC).
fn without_source(ctx: &Ctx, dv: &Value, source: &Source) {
    let message = format!("The source pvc {} doesn't exist", source.name);
    let now = ctx.now();
    let reason = "CloneWithoutSource";
    let unchanged = obj::condition(dv, "Ready")
        .is_some_and(|c| c["reason"] == reason && c["message"] == message.as_str());
    if unchanged {
        return;
    }
    ctx.write_same(kinds::DATAVOLUMES, dv, |d| {
        set_condition(d, "Bound", "False", reason, &message, &now);
        set_condition(d, "Ready", "False", reason, &message, &now);
        set_condition(d, "Running", "False", "", "", &now);
    });
    events::record(ctx, dv, "Warning", reason, &message, COMPONENT);
}

/// The clone, step by step; stops when the DataVolume goes away or is replaced.
async fn clone(ctx: &Ctx, ns: &str, name: &str, uid: &str, source: &Source) -> Option<()> {
    let current = || {
        ctx.get(kinds::DATAVOLUMES, ns, name)
            .filter(|d| obj::uid(d) == uid && !obj::deleting(d))
    };
    let dv = current()?;
    let from = format!("{}/{}", source.namespace, source.name);
    let into = format!("{ns}/{name}");
    let source_pvc = ctx.get(kinds::PVCS, &source.namespace, &source.name)?;
    let claim = target_claim(ctx, &dv, &source_pvc);
    let _ = ctx.create(kinds::PVCS, claim.clone());
    step(
        ctx,
        &dv,
        "CloneScheduled",
        "N/A",
        &format!("Cloning from {from} into {into} scheduled"),
        |d, now| {
            set_condition(
                d,
                "Bound",
                "False",
                "Pending",
                &format!("PVC {name} Pending"),
                now,
            );
            set_condition(d, "Ready", "False", "", "", now);
            set_condition(d, "Running", "False", "Pending", "Clone Pending", now);
        },
    )?;
    ctx.sleep(SCHEDULE).await;
    let copy = Copy {
        from: &from,
        into: &into,
        strategy: strategy(ctx, &source_pvc, &claim),
    };
    copy.run(ctx, &current).await?;
    let dv = current()?;
    bind(ctx, ns, name, &claim);
    step(
        ctx,
        &dv,
        "Succeeded",
        "100.0%",
        &format!("Successfully cloned from {from} into {into}"),
        |d, now| {
            set_condition(
                d,
                "Bound",
                "True",
                "Bound",
                &format!("PVC {name} Bound"),
                now,
            );
            set_condition(d, "Ready", "True", "", "", now);
            set_condition(d, "Running", "False", "Completed", "Clone Complete", now);
        },
    )
}

/// The copy itself, from the populator's start to its end.
struct Copy<'a> {
    from: &'a str,
    into: &'a str,
    strategy: Strategy,
}

impl Copy<'_> {
    /// The in-progress phase (`populatorPhaseMap`: csi-clone → CSICloneInProgress,
    /// host-clone → CloneInProgress with the host copy's progress), for the copy's time.
    async fn run(&self, ctx: &Ctx, current: &impl Fn() -> Option<Arc<Value>>) -> Option<()> {
        let (from, into) = (self.from, self.into);
        let (phase, message) = match self.strategy {
            Strategy::CsiClone => (
                "CSICloneInProgress",
                format!("CSI Volume clone in progress (for pvc {from})"),
            ),
            Strategy::HostAssisted => (
                "CloneInProgress",
                format!("Cloning from {from} into {into} in progress"),
            ),
        };
        let running = |d: &mut Value, now: &str| {
            set_condition(d, "Running", "True", "Populator is running", "", now);
            set_condition(d, "Ready", "False", "TransferRunning", "", now);
        };
        let dv = current()?;
        step(ctx, &dv, phase, "N/A", &message, running)?;
        if self.strategy == Strategy::CsiClone {
            ctx.sleep(CSI_CLONE).await;
            return Some(());
        }
        for quarter in 1..4 {
            ctx.sleep(HOST_CLONE / 4.0).await;
            let progress = format!("{:.2}%", f64::from(quarter) * 25.0);
            let dv = current()?;
            ctx.write_same(kinds::DATAVOLUMES, &dv, |d| {
                d["status"]["progress"] = json!(progress)
            })?;
        }
        ctx.sleep(HOST_CLONE / 4.0).await;
        Some(())
    }
}

/// Writes a phase with its progress and conditions, and the Normal event CDI records for it
/// (clone-controller-base.go `setEventForPhase`).
fn step(
    ctx: &Ctx,
    dv: &Value,
    phase: &str,
    progress: &str,
    message: &str,
    conditions: impl FnOnce(&mut Value, &str),
) -> Option<()> {
    let now = ctx.now();
    let name = obj::name(dv).to_string();
    ctx.write_same(kinds::DATAVOLUMES, dv, |d| {
        d["status"]["phase"] = json!(phase);
        d["status"]["progress"] = json!(progress);
        d["status"]["claimName"] = json!(name);
        conditions(d, &now);
    })?;
    let reason = match phase {
        "Succeeded" => "CloneSucceeded",
        other => other,
    };
    events::record(ctx, dv, "Normal", reason, message, COMPONENT);
    Some(())
}

/// The target claim: named after the DataVolume, owned by it, populated from a
/// VolumeCloneSource (`newPersistentVolumeClaim`, `updatePVCForPopulation`), with the class,
/// modes and size `renderPvcSpec` fills from the class's StorageProfile and the source.
fn target_claim(ctx: &Ctx, dv: &Value, source: &Value) -> Value {
    let storage = &dv["spec"]["storage"];
    let class = storage["storageClassName"]
        .as_str()
        .map(str::to_string)
        .or_else(|| fallback_class(ctx))
        .unwrap_or_default();
    let profile = ctx.get(kinds::STORAGEPROFILES, "", &class);
    let first_set = profile
        .as_ref()
        .map(|p| p["status"]["claimPropertySets"][0].clone())
        .unwrap_or(Value::Null);
    let pick = |key: &str| match &storage[key] {
        Value::Null => first_set[key].clone(),
        given => given.clone(),
    };
    let size = match &storage["resources"]["requests"]["storage"] {
        Value::Null => source["status"]["capacity"]["storage"].clone(),
        given => given.clone(),
    };
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": obj::name(dv), "namespace": obj::namespace(dv),
            "labels": {"app": "containerized-data-importer", "app.kubernetes.io/component": "storage",
                       "app.kubernetes.io/managed-by": "cdi-controller"},
            "ownerReferences": [{"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
                "name": obj::name(dv), "uid": obj::uid(dv), "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"accessModes": pick("accessModes"), "volumeMode": pick("volumeMode"),
            "storageClassName": class, "resources": {"requests": {"storage": size}},
            "dataSourceRef": {"apiGroup": "cdi.kubevirt.io", "kind": "VolumeCloneSource",
                              "name": format!("volume-clone-source-{}", obj::uid(dv))}},
        "status": {"phase": "Pending"}})
}

/// CDI's class for a claim without one: the default virt class, else the cluster default
/// (pkg/controller/common `GetStorageClassByNameWithVirtFallback` / `getFallbackStorageClass`).
fn fallback_class(ctx: &Ctx) -> Option<String> {
    let classes = ctx.list(kinds::STORAGECLASSES, None);
    let marked = |key: &str| {
        classes
            .iter()
            .find(|c| obj::annotation(c, key) == Some("true"))
            .map(|c| obj::name(c).to_string())
    };
    marked(crate::world::storage::DEFAULT_VIRT_CLASS)
        .or_else(|| marked(crate::world::storage::DEFAULT_CLASS))
}

/// `computeStrategyForSourcePVC` and `validateAdvancedClonePVC`: the target class's profile
/// names the strategy; a CSI clone falls back to host-assisted across provisioners, volume
/// modes, or onto a larger claim of a class that cannot expand. Without a profile (or with
/// `snapshot`, as the simulator has no VolumeSnapshotClass) it is host-assisted.
fn strategy(ctx: &Ctx, source: &Value, target: &Value) -> Strategy {
    let class_of = |pvc: &Value| {
        ctx.get(
            kinds::STORAGECLASSES,
            "",
            obj::str_at(pvc, "/spec/storageClassName"),
        )
    };
    let target_class = obj::str_at(target, "/spec/storageClassName");
    let profile = ctx.get(kinds::STORAGEPROFILES, "", target_class);
    let wanted = profile
        .as_ref()
        .map(|p| obj::str_at(p, "/status/cloneStrategy").to_string());
    if wanted.as_deref() != Some("csi-clone") {
        return Strategy::HostAssisted;
    }
    let (Some(from), Some(to)) = (class_of(source), class_of(target)) else {
        return Strategy::HostAssisted;
    };
    let same_driver = from["provisioner"] == to["provisioner"];
    let same_mode = source["spec"]["volumeMode"] == target["spec"]["volumeMode"];
    let capacity = crate::quantity::of(&source["status"]["capacity"]["storage"]).unwrap_or(0.0);
    let wanted_size =
        crate::quantity::of(&target["spec"]["resources"]["requests"]["storage"]).unwrap_or(0.0);
    let fits = capacity >= wanted_size || to["allowVolumeExpansion"] == true;
    if same_driver && same_mode && fits {
        Strategy::CsiClone
    } else {
        Strategy::HostAssisted
    }
}

/// The populated claim binds to its volume.
fn bind(ctx: &Ctx, ns: &str, name: &str, claim: &Value) {
    let spec = &claim["spec"];
    ctx.write(kinds::PVCS, ns, name, |p| {
        p["spec"]["volumeName"] = json!(format!("pvc-{}", obj::uid(p)));
        p["status"] = json!({"phase": "Bound", "accessModes": spec["accessModes"],
            "capacity": {"storage": spec["resources"]["requests"]["storage"]}});
    });
}

/// conditions.go `updateCondition`: the transition time moves with the status, the heartbeat
/// with the reason or message.
fn set_condition(dv: &mut Value, ty: &str, status: &str, reason: &str, message: &str, now: &str) {
    let list = obj::ensure_array(dv, "/status/conditions");
    let index = match list.iter().position(|c| c["type"] == ty) {
        Some(i) => i,
        None => {
            list.push(json!({"type": ty}));
            list.len() - 1
        }
    };
    let c = &mut list[index];
    if c["status"] != status {
        c["lastTransitionTime"] = json!(now);
        c["lastHeartbeatTime"] = json!(now);
    } else if c["reason"] != reason || c["message"] != message {
        c["lastHeartbeatTime"] = json!(now);
    }
    c["status"] = json!(status);
    c["reason"] = json!(reason);
    c["message"] = json!(message);
}

//! KubeVirt's side of CDI DataVolumes (kubevirt v1.9.0): the VM controller creates the
//! DataVolumes of `spec.dataVolumeTemplates` and starts no VMI until they are populated
//! (pkg/virt-controller/watch/vm/vm.go `handleDataVolumes`, called from `sync` before
//! `syncRunStrategy`: "Waiting on DataVolumes to be ready."); the VMI controller creates no
//! launcher pod while a DataVolume volume is not ready (pkg/virt-controller/watch/vmi/
//! lifecycle.go "Delaying pod creation while DataVolume populates", datavolumes.go
//! `areDataVolumesReady`).

use std::sync::Arc;

use serde_json::{json, Value};

use super::preference::SyncError;
use super::{events, Ctx, Key};
use crate::kinds;
use crate::obj;

/// Phases in which a DataVolume lets its VM start (`handleDataVolumes`: Succeeded,
/// WaitForFirstConsumer and PendingPopulation are "continue").
fn populated(dv: &Value) -> bool {
    matches!(
        obj::str_at(dv, "/status/phase"),
        "Succeeded" | "WaitForFirstConsumer" | "PendingPopulation"
    )
}

/// `handleDataVolumes`: creates each missing DataVolume of the templates, owned by the VM and
/// labelled with its UID (pkg/virt-controller/watch/util `CreateDataVolumeManifest`); true when
/// every one is populated; a template it cannot render is the sync's error (FailedCreate).
pub fn handle(ctx: &Ctx, vm: &Value) -> Result<bool, SyncError> {
    let ns = obj::namespace(vm);
    let mut ready = true;
    for template in vm["spec"]["dataVolumeTemplates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = obj::name(template);
        match ctx.get(kinds::DATAVOLUMES, ns, name) {
            Some(dv) => {
                if obj::str_at(&dv, "/status/phase") == "Failed" {
                    let message = format!("DataVolume {name} failed to import disk image");
                    events::warning(ctx, vm, "FailedImport", &message, events::VIRT_CONTROLLER);
                }
                ready &= populated(&dv);
            }
            None => {
                ready = false;
                create(ctx, vm, template).map_err(|e| {
                    let message = format!("Error encountered while creating DataVolumes: {e}");
                    ("FailedCreate", message)
                })?;
            }
        }
    }
    Ok(ready)
}

/// pkg/storage/types/dv.go `GenerateDataVolumeFromTemplate`: the template with the claim
/// adoption annotation, a DataSource reference resolved into `spec.source`
/// (`GetResolvedCloneSource`); then `handleCloneDataVolume`'s event for a missing source PVC.
fn create(ctx: &Ctx, vm: &Value, template: &Value) -> Result<(), String> {
    let ns = obj::namespace(vm);
    let name = obj::name(template);
    let mut spec = template["spec"].clone();
    resolve_source(ctx, ns, &mut spec)?;
    let mut metadata = template["metadata"].clone();
    metadata["namespace"] = json!(ns);
    obj::ensure(&mut metadata, "/labels")["kubevirt.io/created-by"] = json!(obj::uid(vm));
    obj::ensure(&mut metadata, "/annotations")["cdi.kubevirt.io/allowClaimAdoption"] =
        json!("true");
    metadata["ownerReferences"] = json!([{"apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine", "name": obj::name(vm), "uid": obj::uid(vm),
        "controller": true, "blockOwnerDeletion": true}]);
    let source = &spec["source"]["pvc"];
    if let (Some(pvc), Some(pvc_ns)) = (source["name"].as_str(), source["namespace"].as_str()) {
        if ctx.get(kinds::PVCS, pvc_ns, pvc).is_none() {
            let message = format!("Source PVC {pvc} not available: Target PVC {name} will remain unpopulated until source is created");
            events::warning(
                ctx,
                vm,
                "SourcePVCNotAvailabe",
                &message,
                events::VIRT_CONTROLLER,
            );
        }
    }
    let dv = json!({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
        "metadata": metadata, "spec": spec});
    let created = ctx.create(kinds::DATAVOLUMES, dv).map_err(|e| e.message)?;
    let message = format!("Created DataVolume {}", obj::name(&created));
    let reason = "SuccessfulDataVolumeCreate";
    events::record(ctx, vm, "Normal", reason, &message, events::VIRT_CONTROLLER);
    Ok(())
}

/// `GetResolvedCloneSource`: a DataSource reference becomes the DataSource's PVC (or snapshot)
/// source, with the namespace filled in; a missing DataSource is the client's NotFound.
fn resolve_source(ctx: &Ctx, ns: &str, spec: &mut Value) -> Result<(), String> {
    let reference = spec["sourceRef"].clone();
    if reference["kind"] != "DataSource" {
        return Ok(());
    }
    let ds_ns = reference["namespace"].as_str().unwrap_or(ns);
    let ds_name = reference["name"].as_str().unwrap_or_default();
    let ds = ctx
        .get(kinds::DATASOURCES, ds_ns, ds_name)
        .ok_or_else(|| {
            format!("unable to create DataVolume manifest: datasources.cdi.kubevirt.io \"{ds_name}\" not found")
        })?;
    let mut source = json!({});
    for key in ["pvc", "snapshot"] {
        if ds["spec"]["source"][key].is_object() {
            source[key] = ds["spec"]["source"][key].clone();
            if source[key]["namespace"].is_null() {
                source[key]["namespace"] = json!(ds_ns);
            }
        }
    }
    // A DataSource with neither leaves the reference, which `handleCloneDataVolume` refuses.
    if source.as_object().is_none_or(|s| s.is_empty()) {
        return Err("DataVolume sourceRef not supported".into());
    }
    obj::remove_field(spec, "", "sourceRef");
    spec["source"] = source;
    Ok(())
}

/// The DataVolumes the volumes of `spec` (a VM template's or a VMI's) name, present or not.
fn volumes_of<'a>(spec: &'a Value) -> impl Iterator<Item = &'a str> + 'a {
    spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["dataVolume"]["name"].as_str())
}

/// `areDataVolumesReady` for a VMI: every DataVolume volume exists and is populated.
pub fn vmi_ready(ctx: &Ctx, vmi: &Value) -> bool {
    let ns = obj::namespace(vmi);
    volumes_of(&vmi["spec"]).all(|name| {
        ctx.get(kinds::DATAVOLUMES, ns, name)
            .is_some_and(|dv| populated(&dv))
    })
}

/// The VMI's DataVolumesReady condition, carried only by VMIs with DataVolume volumes
/// (vmi/datavolumes.go `aggregateDataVolumesConditions`).
pub fn set_condition(vmi: &mut Value, ready: bool, now: &str) {
    if volumes_of(&vmi["spec"]).next().is_none() {
        return;
    }
    let (reason, message) = match ready {
        true => ("AllDVsReady", "All of the VMI's DVs are bound and ready"),
        false => ("NotAllDVsReady", "Not all of the VMI's DVs are ready"),
    };
    obj::set_condition(vmi, "DataVolumesReady", ready, reason, message, now);
}

/// The VM's printableStatus from its DataVolumes, if they decide it (vm.go `setPrintableStatus`
/// order: DataVolumeError before Provisioning; pkg/storage/types/dv.go `HasDataVolumeErrors`
/// (Failed, or Running False for Error / ImagePullFailed) and `HasDataVolumeProvisioning`).
pub fn printable_status(ctx: &Ctx, vm: &Value) -> Option<&'static str> {
    let ns = obj::namespace(vm);
    let dvs: Vec<_> = volumes_of(&vm["spec"]["template"]["spec"])
        .filter_map(|name| ctx.get(kinds::DATAVOLUMES, ns, name))
        .collect();
    let failed = |dv: &Value| {
        let running = obj::condition(dv, "Running");
        obj::str_at(dv, "/status/phase") == "Failed"
            || running.is_some_and(|c| {
                c["status"] == "False"
                    && matches!(c["reason"].as_str(), Some("Error" | "ImagePullFailed"))
            })
    };
    if dvs.iter().any(|dv| failed(dv)) {
        return Some("DataVolumeError");
    }
    let provisioning = |dv: &Value| {
        let phase = obj::str_at(dv, "/status/phase");
        let bound = obj::condition_is(dv, "Bound") == Some(true);
        !matches!(phase, "Succeeded" | "PendingPopulation")
            && (bound || phase != "WaitForFirstConsumer")
    };
    dvs.iter()
        .any(|dv| provisioning(dv))
        .then_some("Provisioning")
}

/// The VMs and VMIs of the namespace a DataVolume event concerns: its owner, and whoever names
/// it as a volume (vm.go and vmi/datavolumes.go DataVolume event handlers).
pub fn concerned(ctx: &Arc<Ctx>, dv: &Value) -> Vec<Key> {
    let (ns, name) = (obj::namespace(dv), obj::name(dv));
    let mut keys = Vec::new();
    for vm in ctx.list(kinds::VMS, Some(ns)) {
        let templated = vm["spec"]["dataVolumeTemplates"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| obj::name(t) == name));
        if templated || volumes_of(&vm["spec"]["template"]["spec"]).any(|v| v == name) {
            keys.push(Key::Vm(ns.to_string(), obj::name(&vm).to_string()));
        }
    }
    for vmi in ctx.list(kinds::VMIS, Some(ns)) {
        if volumes_of(&vmi["spec"]).any(|v| v == name) {
            keys.push(Key::Vmi(ns.to_string(), obj::name(&vmi).to_string()));
        }
    }
    keys
}

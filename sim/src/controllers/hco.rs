//! The HyperConverged operator (hyperconverged-cluster-operator release-1.19, which deploys
//! KubeVirt v1.9.0) as far as the KubeVirt CR's feature gates go: it renders
//! `spec.configuration.developerConfiguration.featureGates` from the HyperConverged CR
//! (controllers/handlers/kubevirt.go `getKvFeatureGateList`: the hard-coded gates plus those
//! `getFeatureGateChecks` derives from `spec.featureGates`, sorted), applies the
//! `kubevirt.kubevirt.io/jsonpatch` annotation on top (`NewKubeVirt` →
//! controllers/operands/operand.go `ApplyPatchToSpec`), and puts the result back when someone
//! edits the KubeVirt CR directly (`kubevirtHooks.UpdateCR`: "Reconciling an externally
//! updated KubeVirt's Spec to its opinionated values"). A JSON patch annotation marks the
//! HyperConverged CR TaintedConfiguration (hyperconverged_controller.go
//! `detectTaintedConfiguration`).
//!
//! Modelled only for the feature gates and the paths the annotation names: upstream renders
//! (and reverts) the whole KubeVirt spec from the HyperConverged CR, but the simulator's own
//! tests configure KubeVirt directly, so the rest of its spec is left as it is written.

use serde_json::{json, Value};

use super::{events, Ctx};
use crate::kinds;
use crate::obj;
use crate::store::{Scope, Store};
use crate::world::config::{KUBEVIRT_NAME, KUBEVIRT_NAMESPACE};

pub const HCO_NAME: &str = "kubevirt-hyperconverged";
/// controllers/common/consts.go `JSONPatchKVAnnotationName`.
pub const KV_JSONPATCH: &str = "kubevirt.kubevirt.io/jsonpatch";
const COMPONENT: &str = "kubevirt-hyperconverged";

/// `hardCodeKvFgs` and `kvHypervStrictCheck` (added when KVM emulation is off).
const HARD_CODED: &[&str] = &[
    "CPUManager",
    "Snapshot",
    "HostDevices",
    "KubevirtSeccompProfile",
    "HypervStrictCheck",
];

/// `getFeatureGateChecks` for the HyperConverged feature gates that map to one KubeVirt gate
/// each (the v1beta1 map of booleans; annotations, architectures and hypervisors not modelled).
fn gates_from(feature_gates: &Value) -> Vec<&'static str> {
    let on = |key: &str| feature_gates[key] == true;
    let mut gates = Vec::new();
    for (hc, kv) in [
        ("downwardMetrics", "DownwardMetrics"),
        ("alignCPUs", "AlignCPUs"),
        ("objectGraph", "ObjectGraph"),
        ("decentralizedLiveMigration", "DecentralizedLiveMigration"),
        ("containerPathVolumes", "ContainerPathVolumes"),
    ] {
        if on(hc) {
            gates.push(kv);
        }
    }
    // "When set to true or nil, the DeclarativeHotplugVolumes feature gate is enabled instead of
    // HotplugVolumes" (api/v1beta1 hyperconverged_types.go).
    match feature_gates["declarativeHotplugVolumes"] {
        Value::Bool(false) => gates.push("HotplugVolumes"),
        _ => gates.push("DeclarativeHotplugVolumes"),
    }
    if on("incrementalBackup") {
        gates.extend(["IncrementalBackup", "UtilityVolumes"]);
    }
    gates
}

/// The KubeVirt feature gates HCO renders for `hc`, before the JSON patch annotation.
pub fn rendered_gates(hc: &Value) -> Vec<String> {
    let mut gates: Vec<String> = HARD_CODED.iter().map(|g| g.to_string()).collect();
    gates.extend(
        gates_from(&hc["spec"]["featureGates"])
            .into_iter()
            .map(String::from),
    );
    gates.sort();
    gates
}

/// The HyperConverged CR of a fresh OpenShift Virtualization install: the v1beta1 defaults of
/// `spec.featureGates` (api/v1beta1 hyperconverged_types.go `+kubebuilder:default`).
pub fn seed(store: &Store) {
    let hc = json!({"apiVersion": "hco.kubevirt.io/v1beta1", "kind": "HyperConverged",
        "metadata": {"name": HCO_NAME, "namespace": KUBEVIRT_NAMESPACE,
                     "labels": {"app": "kubevirt-hyperconverged"}},
        "spec": {"featureGates": {"downwardMetrics": false, "deployKubeSecondaryDNS": false,
                    "decentralizedLiveMigration": true, "declarativeHotplugVolumes": true,
                    "objectGraph": false, "incrementalBackup": false, "containerPathVolumes": false}},
        "status": {"conditions": [
            {"type": "Available", "status": "True", "reason": "ReconcileCompleted", "message": "Reconcile completed successfully"},
            {"type": "Degraded", "status": "False", "reason": "ReconcileCompleted", "message": "Reconcile completed successfully"}]}});
    let _ = store.create(kinds::HYPERCONVERGEDS, hc, Scope::All, false);
}

/// Brings the KubeVirt CR's gates (and whatever the annotation patches) to what the
/// HyperConverged CR asks for, writing only when they differ.
pub fn reconcile(ctx: &Ctx) {
    let Some(hc) = ctx.get(kinds::HYPERCONVERGEDS, KUBEVIRT_NAMESPACE, HCO_NAME) else {
        return;
    };
    let Some(kv) = ctx.get(kinds::KUBEVIRTS, KUBEVIRT_NAMESPACE, KUBEVIRT_NAME) else {
        return;
    };
    let mut required = json!({"spec": kv["spec"].clone()});
    obj::ensure(&mut required, "/spec/configuration/developerConfiguration")["featureGates"] =
        json!(rendered_gates(&hc));
    let annotation = obj::annotation(&hc, KV_JSONPATCH);
    if let Some(text) = annotation {
        if let Err(why) = apply(&mut required, text) {
            let message = format!("invalid jsonPatch in the {KV_JSONPATCH} annotation: {why}");
            events::warning(ctx, &hc, "InvalidJSONPatch", &message, COMPONENT);
            return;
        }
    }
    taint(ctx, &hc, annotation.is_some());
    if required["spec"] != kv["spec"] {
        ctx.write(kinds::KUBEVIRTS, KUBEVIRT_NAMESPACE, KUBEVIRT_NAME, |k| {
            k["spec"] = required["spec"].clone()
        });
    }
}

/// operand.go `applyAnnotationPatch`: an RFC 6902 patch of the whole object.
fn apply(object: &mut Value, text: &str) -> Result<(), String> {
    let patch: json_patch::Patch = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).map_err(|e| e.to_string())?;
    *object = patched;
    Ok(())
}

/// TaintedConfiguration True while a JSON patch annotation is set; removed, not False'd,
/// without one ("keeping the JSONPatch backdoor in low profile").
fn taint(ctx: &Ctx, hc: &Value, tainted: bool) {
    let shown = obj::condition_is(hc, "TaintedConfiguration") == Some(true);
    if shown == tainted {
        return;
    }
    let now = ctx.now();
    ctx.write_same(kinds::HYPERCONVERGEDS, hc, |h| {
        if tainted {
            obj::set_condition(
                h,
                "TaintedConfiguration",
                true,
                "UnsupportedFeatureAnnotation",
                "Unsupported feature was activated via an HCO annotation",
                &now,
            );
        } else {
            obj::remove_condition(h, "TaintedConfiguration");
        }
    });
}

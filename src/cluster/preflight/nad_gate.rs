//! Whether a NAD reference change of a running VM is live on this KubeVirt, and, when it is
//! not, where to turn the `LiveUpdateNADRef` gate on: on OpenShift the HyperConverged
//! operator owns the KubeVirt CR and puts back direct edits of it
//! (hyperconverged-cluster-operator controllers/handlers/kubevirt.go `kubevirtHooks.UpdateCR`),
//! so the gate goes into its `kubevirt.kubevirt.io/jsonpatch` annotation
//! (controllers/operands/operand.go `ApplyPatchToSpec`).

use kube::api::ListParams;
use serde_json::{json, Value};

use super::super::kinds::{self, to_value};
use super::super::retry::retrying;

const NAD_REF_GATE: &str = "LiveUpdateNADRef";
/// controllers/common/consts.go `JSONPatchKVAnnotationName`.
const KV_JSONPATCH: &str = "kubevirt.kubevirt.io/jsonpatch";

/// The HyperConverged CR, if the cluster has one the user can read (none where HCO is not
/// installed: the resource is not served).
pub async fn operator(client: &kube::Client) -> Option<Value> {
    let (params, api) = (ListParams::default(), kinds::HYPERCONVERGED.all(client));
    let list = retrying(|| api.list(&params)).await.ok()?;
    list.items.first().map(to_value)
}

/// Whether KubeVirt changes a running VM's NAD reference live, decided as upstream does
/// (kubevirt `pkg/virt-config/feature-gates.go` isFeatureGateEnabled: a GA gate is on, any
/// other only when listed): the gate does not exist before v1.8 (a NAD change sets
/// RestartRequired, `pkg/network/vmliveupdate/restart.go` IsRestartRequired), is Beta and off
/// by default in v1.8 (`featuregate/active.go`), GA from v1.9 (`featuregate/inactive.go`).
pub fn check(cr: &Value, hco: Option<&Value>) -> Result<String, String> {
    let version = cr["status"]["observedKubeVirtVersion"]
        .as_str()
        .unwrap_or("");
    let gates = &cr["spec"]["configuration"]["developerConfiguration"]["featureGates"];
    let listed = gates
        .as_array()
        .is_some_and(|g| g.iter().any(|x| x == NAD_REF_GATE));
    let restart = "a NAD change of a running VM sets RestartRequired instead of migrating it";
    match minor_version(version) {
        Some((1, minor)) if minor >= 9 => Ok(format!(
            "KubeVirt {version} updates NAD references live ({NAD_REF_GATE} is GA)"
        )),
        Some((1, 8)) if listed => Ok(format!(
            "KubeVirt {version} with the {NAD_REF_GATE} feature gate (beta)"
        )),
        Some((1, 8)) => Err(format!(
            "KubeVirt {version} has {NAD_REF_GATE} as a beta feature gate, off by default and not enabled: {restart}; {}",
            how_to_enable(cr, hco)
        )),
        Some((major, minor)) if major > 1 => Ok(format!(
            "KubeVirt {version} (v{major}.{minor}) updates NAD references live"
        )),
        Some(_) => Err(format!(
            "KubeVirt {version} predates {NAD_REF_GATE} (added as beta in v1.8, GA in v1.9): {restart}; upgrade KubeVirt"
        )),
        None if listed => Ok(format!(
            "KubeVirt with the {NAD_REF_GATE} feature gate (version not reported)"
        )),
        None => Err(format!(
            "KubeVirt reports no version (status.observedKubeVirtVersion {version:?}) and {NAD_REF_GATE} is not listed: cannot tell whether a NAD change is live"
        )),
    }
}

/// Where to turn the gate on. HCO 1.18 (which deploys KubeVirt v1.8) lists the gate itself
/// (`hardCodeKvFgs`, hyperconverged-cluster-operator#4064) and HCO 1.19 drops it as GA (#4248),
/// so on OpenShift the gate is missing only under an older HCO: upgrade it, or patch the gate in
/// through the HyperConverged CR, never on the KubeVirt CR (HCO would put the edit back).
fn how_to_enable(cr: &Value, hco: Option<&Value>) -> String {
    let by_hco = cr["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "hco-operator";
    let (namespace, name, current) = match hco {
        Some(hc) => (
            hc["metadata"]["namespace"].as_str().unwrap_or_default(),
            hc["metadata"]["name"].as_str().unwrap_or_default(),
            hc["metadata"]["annotations"][KV_JSONPATCH].as_str(),
        ),
        None if by_hco => (
            cr["metadata"]["namespace"].as_str().unwrap_or("openshift-cnv"),
            "kubevirt-hyperconverged",
            None,
        ),
        None => {
            return format!("add {NAD_REF_GATE} to spec.configuration.developerConfiguration.featureGates of the KubeVirt CR")
        }
    };
    let patch = match with_gate(current) {
        Ok(patch) => patch,
        Err(why) => return format!("the HyperConverged CR {namespace}/{name} owns this KubeVirt CR, and its {KV_JSONPATCH} annotation {why}: fix it to add the op {}", gate_op()),
    };
    let kept = if current.is_some() {
        " (its current patch with the gate appended)"
    } else {
        ""
    };
    format!(
        "the HyperConverged CR {namespace}/{name} owns this KubeVirt CR and puts back edits of it: upgrade to HCO 1.18 or later (it enables the gate itself), or patch the gate in through the HyperConverged CR{kept}: kubectl annotate --overwrite -n {namespace} hyperconverged {name} {KV_JSONPATCH}='{patch}'"
    )
}

/// The JSON patch op that appends the gate to the KubeVirt CR's list.
fn gate_op() -> Value {
    json!({"op": "add", "path": "/spec/configuration/developerConfiguration/featureGates/-",
           "value": NAD_REF_GATE})
}

/// The annotation's patch with the gate op appended (or alone); an error when the present
/// annotation is not a JSON array or already holds the op (then HCO refused it).
fn with_gate(current: Option<&str>) -> Result<String, String> {
    let mut ops = match current {
        None => Vec::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(ops)) => ops,
            _ => return Err(format!("is not a JSON array of patch operations ({text})")),
        },
    };
    if ops.iter().any(|op| op["value"] == NAD_REF_GATE) {
        let why = "already adds the gate, yet the KubeVirt CR does not list it (see the HyperConverged CR's conditions and events)";
        return Err(why.into());
    }
    ops.push(gate_op());
    Ok(Value::Array(ops).to_string())
}

/// The major and minor of a KubeVirt version such as `v1.8.2` or `v1.8.2-12-gabcdef`.
fn minor_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cr(v: &str, gates: Value, labels: Value) -> Value {
        json!({"metadata": {"labels": labels, "namespace": "openshift-cnv"},
        "status": {"observedKubeVirtVersion": v},
        "spec": {"configuration": {"developerConfiguration": {"featureGates": gates}}}})
    }

    #[test]
    fn the_nad_ref_gate_is_decided_by_version_and_gates() {
        let plain = |v: &str, gates: Value| check(&cr(v, gates, json!({})), None);
        assert!(plain("v1.8.2", json!([])).is_err());
        assert!(plain("v1.8.2-12-gabcdef", json!(["LiveUpdateNADRef"])).is_ok());
        assert!(plain("v1.9.0", json!([])).is_ok());
        assert!(plain("v1.10.1", json!([])).is_ok());
        let old = plain("v1.7.1", json!(["LiveUpdateNADRef"])).unwrap_err();
        assert!(
            old.contains("predates") && old.contains("RestartRequired"),
            "{old}"
        );
        assert!(plain("", json!([])).is_err());
        assert!(plain("", json!(["LiveUpdateNADRef"])).is_ok());
    }

    #[test]
    fn without_hco_the_gate_goes_on_the_kubevirt_cr() {
        let why = check(&cr("v1.8.4", json!([]), json!({})), None).unwrap_err();
        assert!(why.contains("featureGates of the KubeVirt CR"), "{why}");
    }

    #[test]
    fn under_hco_the_hint_keeps_the_present_patch_and_appends_the_gate() {
        let labels = json!({"app.kubernetes.io/managed-by": "hco-operator"});
        let present = r#"[{"op":"add","path":"/spec/configuration/migrations","value":{"allowPostCopy":true}}]"#;
        let hc = json!({"metadata": {"name": "kubevirt-hyperconverged", "namespace": "openshift-cnv",
            "annotations": {KV_JSONPATCH: present}}});
        let why = check(&cr("v1.8.4", json!([]), labels.clone()), Some(&hc)).unwrap_err();
        assert!(why.contains("kubectl annotate --overwrite -n openshift-cnv hyperconverged kubevirt-hyperconverged kubevirt.kubevirt.io/jsonpatch='[{\"op\":\"add\",\"path\":\"/spec/configuration/migrations\""), "{why}");
        assert!(why.contains("\"value\":\"LiveUpdateNADRef\"}]'"), "{why}");
        let broken = json!({"metadata": {"name": "h", "namespace": "n",
            "annotations": {KV_JSONPATCH: "{}"}}});
        let why = check(&cr("v1.8.4", json!([]), labels), Some(&broken)).unwrap_err();
        assert!(why.contains("is not a JSON array"), "{why}");
    }
}

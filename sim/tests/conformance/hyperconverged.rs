//! The HyperConverged operator owns the KubeVirt CR's feature gates
//! (hyperconverged-cluster-operator release-1.19 controllers/handlers/kubevirt.go
//! `getKvFeatureGateList` and `kubevirtHooks.UpdateCR`, controllers/operands/operand.go
//! `ApplyPatchToSpec` for the `kubevirt.kubevirt.io/jsonpatch` annotation,
//! hyperconverged_controller.go `detectTaintedConfiguration`).

use super::*;

const DEFAULT_GATES: [&str; 7] = [
    "CPUManager",
    "DecentralizedLiveMigration",
    "DeclarativeHotplugVolumes",
    "HostDevices",
    "HypervStrictCheck",
    "KubevirtSeccompProfile",
    "Snapshot",
];
const KV: &str = "kubevirt-kubevirt-hyperconverged";
const HCO: &str = "kubevirt-hyperconverged";

fn kubevirts(client: &kube::Client) -> Api<DynamicObject> {
    let ar = resource("kubevirt.io", "v1", "KubeVirt", "kubevirts");
    Api::namespaced_with(client.clone(), "openshift-cnv", &ar)
}

fn hyperconvergeds(client: &kube::Client) -> Api<DynamicObject> {
    let ar = resource(
        "hco.kubevirt.io",
        "v1beta1",
        "HyperConverged",
        "hyperconvergeds",
    );
    Api::namespaced_with(client.clone(), "openshift-cnv", &ar)
}

fn gates(kv: &Value) -> Vec<&str> {
    kv["spec"]["configuration"]["developerConfiguration"]["featureGates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

async fn merge(api: &Api<DynamicObject>, name: &str, patch: Value) -> Value {
    let patched = api
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    value(&patched)
}

/// The KubeVirt CR once a write after `after` shows gates for which `pred` holds.
async fn kv_after(client: &kube::Client, after: u64, pred: impl Fn(&[&str]) -> bool) -> Value {
    until(&kubevirts(client), KV, "re-rendered", |kv| {
        version(kv) > after && pred(&gates(kv))
    })
    .await
}

#[tokio::test]
async fn hco_renders_the_kubevirt_gates_and_reverts_a_direct_edit() {
    let (_sim, client) = cluster().await;
    let kv = value(&kubevirts(&client).get(KV).await.unwrap());
    assert_eq!(gates(&kv), DEFAULT_GATES);
    let hc = value(&hyperconvergeds(&client).get(HCO).await.unwrap());
    assert_eq!(
        hc["spec"]["featureGates"]["declarativeHotplugVolumes"],
        true
    );

    let mut edited: Vec<&str> = DEFAULT_GATES.to_vec();
    edited.push("LiveUpdateNADRef");
    let patch =
        json!({"spec": {"configuration": {"developerConfiguration": {"featureGates": edited}}}});
    let written = merge(&kubevirts(&client), KV, patch).await;
    let reverted = kv_after(&client, version(&written), |g| g == DEFAULT_GATES).await;
    assert_eq!(gates(&reverted), DEFAULT_GATES);

    let patch = json!({"spec": {"featureGates": {"downwardMetrics": true, "declarativeHotplugVolumes": false}}});
    let written = merge(&hyperconvergeds(&client), HCO, patch).await;
    let kv = kv_after(&client, version(&written), |g| {
        g.contains(&"DownwardMetrics")
    })
    .await;
    assert!(gates(&kv).contains(&"HotplugVolumes"), "{:?}", gates(&kv));
    assert!(!gates(&kv).contains(&"DeclarativeHotplugVolumes"));
}

#[tokio::test]
async fn the_jsonpatch_annotation_sets_a_gate_that_stays_and_taints_the_hco() {
    let (_sim, client) = cluster().await;
    let add = r#"[{"op": "add", "path": "/spec/configuration/developerConfiguration/featureGates/-", "value": "LiveUpdateNADRef"}]"#;
    let patch = json!({"metadata": {"annotations": {"kubevirt.kubevirt.io/jsonpatch": add}}});
    let written = merge(&hyperconvergeds(&client), HCO, patch).await;
    let kv = kv_after(&client, version(&written), |g| {
        g.contains(&"LiveUpdateNADRef")
    })
    .await;
    assert_eq!(gates(&kv).len(), DEFAULT_GATES.len() + 1);
    let hc = until(&hyperconvergeds(&client), HCO, "tainted", |h| {
        cond(h, "TaintedConfiguration").is_some()
    })
    .await;
    let tainted = condition(&hc, "TaintedConfiguration").map(status_reason_message);
    let message = "Unsupported feature was activated via an HCO annotation";
    assert_eq!(
        tainted,
        Some((
            Some("True"),
            Some("UnsupportedFeatureAnnotation"),
            Some(message)
        ))
    );

    let patch = json!({"spec": {"configuration": {"developerConfiguration": {"featureGates": DEFAULT_GATES}}}});
    let written = merge(&kubevirts(&client), KV, patch).await;
    kv_after(&client, version(&written), |g| {
        g.contains(&"LiveUpdateNADRef")
    })
    .await;

    let patch = json!({"metadata": {"annotations": {"kubevirt.kubevirt.io/jsonpatch": null}}});
    let written = merge(&hyperconvergeds(&client), HCO, patch).await;
    kv_after(&client, version(&written), |g| g == DEFAULT_GATES).await;
    until(&hyperconvergeds(&client), HCO, "untainted", |h| {
        cond(h, "TaintedConfiguration").is_none()
    })
    .await;
}

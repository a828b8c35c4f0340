//! `kubectl wait` on conditions and deletions.

use serde_json::json;
use vstp_sim::kinds;
use vstp_sim::store::Scope;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_a_condition_and_for_a_namespace_to_go() {
    let (sim, _) = common::start().await;
    let kc = Kubeconfig::write(&sim, "wait");
    let store = sim.store().clone();
    let pod = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}});
    store.create(kinds::PODS, pod, Scope::All, false).unwrap();
    let wait = ["wait", "--for=condition=Ready", "pod/p", "--timeout=20s"];
    let waiter = spawn_kubectl(&kc, &wait, None);
    tokio::pin!(waiter);
    // Start kubectl (its get and watch) before the condition flips; either order must pass.
    let _started = futures::poll!(&mut waiter);
    store
        .modify(kinds::PODS, "default", "p", Scope::Status, false, |p| {
            let mut p = p.clone();
            p["status"]["conditions"][0]["status"] = json!("True");
            Ok(p)
        })
        .unwrap();
    let out = waiter.await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("condition met"));

    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: doomed\n";
    kubectl_stdin(&kc, &["apply", "-f", "-"], Some(ns)).await;
    kubectl_stdin(&kc, &["apply", "-n", "doomed", "-f", "-"], Some(VM)).await;
    kubectl(&kc, &["delete", "namespace", "doomed", "--wait=false"]).await;
    kubectl(
        &kc,
        &["wait", "--for=delete", "namespace/doomed", "--timeout=20s"],
    )
    .await;
}

/// kubectl wait reads `.status.conditions` with `unstructured.NestedSlice` (kubectl v1.32
/// pkg/cmd/wait/condition.go `ConditionalWait.checkCondition`), which fails on a `null` and
/// returns "not found" on an absent field; kube-apiserver never sends the `null` because Go
/// omits the `omitempty` slice (kubevirt v1.9.0 staging/src/kubevirt.io/api/core/v1/types.go
/// `VirtualMachineInstanceStatus.Conditions`). Started while the VMI is still Scheduled, the
/// wait lasts until the guest agent connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_the_guest_agent_from_the_moment_the_vmi_is_scheduled() {
    // Modelled time runs at 2×: the VMI stays Scheduled for a real second, long enough for
    // kubectl to read it in that phase.
    let config = vstp_sim::SimConfig {
        time_scale: 2.0,
        ..vstp_sim::SimConfig::cluster(vstp_sim::world::nodes::ClusterSpec::tidy()).unwrap()
    };
    let (sim, client) = common::start_with(config).await;
    let kc = Kubeconfig::write(&sim, "wait-agent");
    kubectl_stdin(
        &kc,
        &["apply", "-f", "-"],
        Some(&RUNNING_VM.replace("NAME", "vm-w")),
    )
    .await;
    let vmis = common::virt::vmis(&client);
    common::virt::until(&vmis, "vm-w", "Scheduled", |v| {
        v["status"]["phase"] == "Scheduled"
    })
    .await;
    let wait = [
        "wait",
        "--for=condition=AgentConnected",
        "vmi/vm-w",
        "--timeout=60s",
    ];
    let out = kubectl(&kc, &wait).await;
    assert!(out.contains("condition met"), "{out}");
    let vmi = vmis.get("vm-w").await.unwrap();
    assert_eq!(
        common::virt::cond(&common::virt::value(&vmi), "AgentConnected").as_deref(),
        Some("True")
    );
}

//! kubectl's commands whose typed clients send protobuf bodies (kubectl 1.32 prefers protobuf
//! for built-in kinds): `kubectl create …` (and `kubectl run`, which sends JSON), and a drain
//! that deletes instead of evicting.

use serde_json::json;
use vstp_sim::kinds;
use vstp_sim::store::Scope;

use super::*;

/// What a person types first. kubectl 1.32's generators send protobuf bodies (`kubectl create
/// namespace|configmap|secret|serviceaccount`; `kubectl run` sends JSON), read as
/// apimachinery v1.33 pkg/runtime/serializer/protobuf/protobuf.go `Serializer.Decode` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_namespace_configmap_secret_serviceaccount_and_run_then_get_them() {
    let (sim, _) = common::start().await;
    let kc = Kubeconfig::write(&sim, "create");
    let created = [
        (
            vec!["create", "namespace", "test"],
            "namespace/test created",
        ),
        (
            vec![
                "create",
                "configmap",
                "x",
                "--from-literal=a=b",
                "-n",
                "test",
            ],
            "configmap/x created",
        ),
        (
            vec![
                "create",
                "secret",
                "generic",
                "s",
                "--from-literal=user=admin",
                "-n",
                "test",
            ],
            "secret/s created",
        ),
        (
            vec!["create", "serviceaccount", "robot", "-n", "test"],
            "serviceaccount/robot created",
        ),
        (
            vec![
                "run",
                "web",
                "--image=nginx",
                "--labels=app=web",
                "-n",
                "test",
            ],
            "pod/web created",
        ),
    ];
    for (args, says) in created {
        let out = kubectl(&kc, &args).await;
        assert!(out.contains(says), "kubectl {args:?}: {out}");
    }
    let got = |what: &'static [&'static str], path: &'static str| {
        let mut args = vec!["get", "-n", "test"];
        args.extend_from_slice(what);
        jsonpath_in(&kc, args, path)
    };
    assert_eq!(
        got(&["namespace", "test"], "{.status.phase}").await,
        "Active"
    );
    assert_eq!(got(&["configmap", "x"], "{.data.a}").await, "b");
    assert_eq!(got(&["secret", "s"], "{.data.user}").await, "YWRtaW4=");
    assert_eq!(
        got(&["serviceaccount", "robot"], "{.metadata.name}").await,
        "robot"
    );
    assert_eq!(
        got(
            &["pod", "-l", "app=web"],
            "{.items[*].spec.containers[0].image}"
        )
        .await,
        "nginx"
    );
    let listed = kubectl(
        &kc,
        &[
            "get",
            "configmaps,secrets,serviceaccounts",
            "-n",
            "test",
            "-o",
            "name",
        ],
    )
    .await;
    for name in ["configmap/x", "secret/s", "serviceaccount/robot"] {
        assert!(listed.lines().any(|l| l == name), "{name} in:\n{listed}");
    }
}

async fn jsonpath_in(kc: &Kubeconfig, mut args: Vec<&str>, path: &str) -> String {
    let output = format!("jsonpath={path}");
    args.extend_from_slice(&["-o", &output]);
    kubectl(kc, &args).await
}

/// `kubectl drain --disable-eviction` deletes each pod with a typed client, whose DeleteOptions
/// body is protobuf (apimachinery v1.33 pkg/runtime/serializer/protobuf/protobuf.go
/// `Serializer.Decode`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_without_eviction_deletes_the_pods_with_protobuf_delete_options() {
    let (sim, _) = common::start().await;
    let kc = Kubeconfig::write(&sim, "drain-delete");
    let store = sim.store();
    let node = json!({"metadata": {"name": "worker-0"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    store.create(kinds::NODES, node, Scope::All, false).unwrap();
    let pod = json!({"metadata": {"name": "bare", "namespace": "default"},
        "spec": {"nodeName": "worker-0", "containers": [{"name": "c"}]}, "status": {"phase": "Running"}});
    store.create(kinds::PODS, pod, Scope::All, false).unwrap();
    let drain = [
        "drain",
        "worker-0",
        "--disable-eviction",
        "--force",
        "--ignore-daemonsets",
        "--timeout=30s",
    ];
    let out = kubectl(&kc, &drain).await;
    assert!(
        out.contains("pod/bare deleted") && out.contains("drained"),
        "{out}"
    );
    let (left, _) = store.list(kinds::PODS, None, &Default::default());
    assert!(left.is_empty(), "the pod is gone: {left:?}");
}

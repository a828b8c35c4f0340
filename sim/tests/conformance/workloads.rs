//! The non-VM workloads a drain meets: PodDisruptionBudgets as the eviction API enforces them,
//! DaemonSet pods that a cordon leaves in place, Deployment pods replaced elsewhere.

use futures::StreamExt as _;
use kube::api::{Api, DynamicObject, EvictParams, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use super::*;

fn kind_api(
    client: &kube::Client,
    ns: &str,
    group: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar = resource(group, "v1", kind, plural);
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn pdbs(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    kind_api(
        client,
        ns,
        "policy",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
    )
}

fn pods_in(client: &kube::Client, ns: &str) -> Api<k8s_openapi::api::core::v1::Pod> {
    Api::namespaced(client.clone(), ns)
}

/// A Deployment `name` in `default` with `replicas` pods labelled `app: name`.
async fn deployment(client: &kube::Client, name: &str, replicas: u32) {
    let d: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]}}},
    }))
    .unwrap();
    kind_api(client, "default", "apps", "Deployment", "deployments")
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
}

async fn budget(client: &kube::Client, name: &str, spec: Value) {
    let pdb: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "default"}, "spec": spec,
    }))
    .unwrap();
    pdbs(client, "default")
        .create(&PostParams::default(), &pdb)
        .await
        .unwrap();
}

/// The pods of `ns` that `selector` selects.
async fn app_pods(client: &kube::Client, ns: &str, selector: &str) -> Vec<Value> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &resource("", "v1", "Pod", "pods"));
    api.list(&kube::api::ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .iter()
        .map(value)
        .collect()
}

/// kubernetes pkg/registry/core/pod/storage/eviction.go `checkAndDecrement`: with no disruption
/// allowed the eviction is 429 TooManyRequests "Cannot evict pod as it would violate the pod's
/// disruption budget." with a `DisruptionBudget` cause naming the budget and its counts
/// (computed by pkg/controller/disruption `trySync`); once the budget allows one, the same
/// eviction deletes the pod and its ReplicaSet replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_refuses_an_eviction_beyond_it_with_the_upstream_status_and_cause() {
    let (sim, client) = cluster().await;
    // The harness's client would retry the 429s this test wants to see.
    let plain = client_without_retry(&sim).await;
    deployment(&client, "web", 1).await;
    budget(
        &client,
        "web",
        json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}),
    )
    .await;
    let seen = until(
        &pdbs(&client, "default"),
        "web",
        "counting one healthy pod",
        |p| {
            p["status"]["currentHealthy"] == 1
                && p["status"]["observedGeneration"] == p["metadata"]["generation"]
        },
    )
    .await;
    assert_eq!(seen["status"]["desiredHealthy"], 1, "{seen}");
    assert_eq!(seen["status"]["expectedPods"], 1, "{seen}");
    assert_eq!(seen["status"]["disruptionsAllowed"], 0, "{seen}");
    let pod = app_pods(&client, "default", "app=web").await.remove(0);
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    let refused = pods_in(&plain, "default")
        .evict(&name, &EvictParams::default())
        .await
        .map(|_| ())
        .unwrap_err();
    let (code, body) = raw(
        &plain,
        "POST",
        &format!("/api/v1/namespaces/default/pods/{name}/eviction"),
        "application/json",
        serde_json::to_vec(&json!({"apiVersion": "policy/v1", "kind": "Eviction",
                                   "metadata": {"name": name, "namespace": "default"}}))
        .unwrap(),
    )
    .await;
    let status = api_error(refused);
    assert_eq!(
        (status.code, status.reason.as_str()),
        (429, "TooManyRequests")
    );
    assert_eq!(
        status.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(code, 429);
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "DisruptionBudget",
                "message": "The disruption budget web needs 1 healthy pods and has 1 currently"}]),
        "{body}"
    );
    assert!(pods_in(&client, "default")
        .get_opt(&name)
        .await
        .unwrap()
        .is_some());

    pdbs(&client, "default")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": 0}})),
        )
        .await
        .unwrap();
    until(
        &pdbs(&client, "default"),
        "web",
        "allowing one disruption",
        |p| p["status"]["disruptionsAllowed"] == 1,
    )
    .await;
    pods_in(&client, "default")
        .evict(&name, &EvictParams::default())
        .await
        .unwrap();
    let replaced = until_app_pod(&client, "default", "app=web", |p| {
        p["metadata"]["name"] != name.as_str() && cond(p, "Ready").as_deref() == Some("True")
    })
    .await;
    assert_ne!(replaced["metadata"]["name"], name.as_str());
}

/// Waits (watching the label selection) until a pod matching `selector` satisfies `pred`.
async fn until_app_pod(
    client: &kube::Client,
    ns: &str,
    selector: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    use futures::TryStreamExt;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &resource("", "v1", "Pod", "pods"));
    let cfg = kube::runtime::watcher::Config::default().labels(selector);
    let found = tokio::time::timeout(BUDGET, async {
        let mut stream = std::pin::pin!(kube::runtime::watcher(api, cfg));
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let kube::runtime::watcher::Event::Apply(o)
            | kube::runtime::watcher::Event::InitApply(o) = ev
            {
                let v = value(&o);
                if pred(&v) {
                    return v;
                }
            }
        }
        Value::Null
    })
    .await;
    found.unwrap_or_else(|_| panic!("no pod {selector} in {ns} as awaited within {BUDGET:?}"))
}

/// pkg/controller/daemon `syncDaemonSet` with `AddOrUpdateDaemonPodTolerations` and the
/// scheduler's nodeunschedulable filter: virt-handler runs on every worker and its pod on a
/// cordoned node stays; pkg/controller/replicaset `manageReplicas`: the router pod evicted from
/// the cordoned node is replaced on another one (the router's budget allows one disruption).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_pods_stay_on_a_cordoned_node_and_an_evicted_router_pod_comes_back_elsewhere() {
    let (_sim, client) = cluster().await;
    let handlers = app_pods(&client, "openshift-cnv", "kubevirt.io=virt-handler").await;
    let mut handler_nodes: Vec<&str> = handlers
        .iter()
        .filter_map(|p| p["spec"]["nodeName"].as_str())
        .collect();
    handler_nodes.sort();
    assert_eq!(handler_nodes, ["worker-0", "worker-1", "worker-2"]);
    let selector = "ingresscontroller.operator.openshift.io/deployment-ingresscontroller=default";
    let routers = app_pods(&client, "openshift-ingress", selector).await;
    assert_eq!(routers.len(), 3, "one router per worker: {routers:?}");
    // maxUnavailable 25 % of three, rounded up: one disruption allowed.
    let pdb = value(
        &pdbs(&client, "openshift-ingress")
            .get("router-default")
            .await
            .unwrap(),
    );
    let counts = [
        "expectedPods",
        "desiredHealthy",
        "currentHealthy",
        "disruptionsAllowed",
    ]
    .map(|k| pdb["status"][k].as_i64().unwrap_or(-1));
    assert_eq!(counts, [3, 2, 3, 1], "{pdb}");
    let router = &routers[0];
    let (name, node) = (
        router["metadata"]["name"].as_str().unwrap().to_string(),
        router["spec"]["nodeName"].as_str().unwrap().to_string(),
    );
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    nodes
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    pods_in(&client, "openshift-ingress")
        .evict(&name, &EvictParams::default())
        .await
        .unwrap();
    let replacement = until_app_pod(&client, "openshift-ingress", selector, |p| {
        cond(p, "Ready").as_deref() == Some("True")
            && !routers
                .iter()
                .any(|r| r["metadata"]["name"] == p["metadata"]["name"])
    })
    .await;
    assert_ne!(
        replacement["spec"]["nodeName"],
        node.as_str(),
        "{replacement}"
    );
    let still = app_pods(&client, "openshift-cnv", "kubevirt.io=virt-handler").await;
    let on_cordoned: Vec<&Value> = still
        .iter()
        .filter(|p| p["spec"]["nodeName"] == node.as_str())
        .collect();
    assert_eq!(on_cordoned.len(), 1, "{still:?}");
    let original = handlers
        .iter()
        .find(|p| p["spec"]["nodeName"] == node.as_str())
        .unwrap();
    assert_eq!(
        on_cordoned[0]["metadata"]["uid"],
        original["metadata"]["uid"]
    );
    let ds = kind_api(&client, "openshift-cnv", "apps", "DaemonSet", "daemonsets")
        .get("virt-handler")
        .await
        .unwrap();
    let ds = value(&ds);
    assert_eq!(ds["status"]["desiredNumberScheduled"], 3, "{ds}");
    assert_eq!(ds["status"]["numberReady"], 3, "{ds}");
}

/// kubevirt pkg/virt-operator/util/readycheck.go `DaemonsetIsReady` and util/conditions.go:
/// while virt-handler's replacement pod on a node is not Ready yet the KubeVirt CR is not
/// Available (Progressing, DeploymentInProgress); once it is, Available again with reason
/// AllComponentsReady, Progressing and Degraded False.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubevirt_is_available_again_once_virt_handler_is_ready_on_every_node() {
    let (_sim, client) = cluster().await;
    let ar = resource("kubevirt.io", "v1", "KubeVirt", "kubevirts");
    let kubevirts: Api<DynamicObject> = Api::namespaced_with(client.clone(), "openshift-cnv", &ar);
    let name = "kubevirt-kubevirt-hyperconverged";
    let status = |kv: &Value, ty: &str| cond(kv, ty).unwrap_or_default();
    let available = |kv: &Value| {
        status(kv, "Available") == "True"
            && status(kv, "Progressing") == "False"
            && status(kv, "Degraded") == "False"
    };
    let before = value(&kubevirts.get(name).await.unwrap());
    assert!(available(&before), "{before}");
    let handler = app_pods(&client, "openshift-cnv", "kubevirt.io=virt-handler")
        .await
        .remove(0);
    pods_in(&client, "openshift-cnv")
        .delete(
            handler["metadata"]["name"].as_str().unwrap(),
            &Default::default(),
        )
        .await
        .unwrap();
    // Every change since `before`, replayed from its resourceVersion: none can be missed.
    let from = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let params = kube::api::WatchParams::default().fields(&format!("metadata.name={name}"));
    let mut stream = kubevirts.watch(&params, &from).await.unwrap().boxed();
    let mut history = Vec::new();
    let followed = tokio::time::timeout(BUDGET, async {
        use futures::StreamExt;
        while let Some(event) = stream.next().await {
            if let kube::api::WatchEvent::Modified(kv) = event.unwrap() {
                history.push(value(&kv));
                if available(history.last().unwrap()) {
                    return;
                }
            }
        }
    })
    .await;
    assert!(
        followed.is_ok(),
        "not Available again within {BUDGET:?}: {history:?}"
    );
    let deploying = history
        .iter()
        .find(|kv| status(kv, "Available") == "False")
        .unwrap_or_else(|| panic!("never unavailable: {history:?}"));
    assert_eq!(status(deploying, "Progressing"), "True", "{deploying}");
    let reason = condition(deploying, "Available").unwrap()["reason"].clone();
    assert_eq!(reason, "DeploymentInProgress", "{deploying}");
    let last = history.last().unwrap();
    assert_eq!(
        condition(last, "Available").unwrap()["reason"],
        "AllComponentsReady"
    );
}

//! The default cluster's untidy nodes, as the components that own them leave them, and what
//! kubernetes-nmstate makes of a policy that covers them.

use kube::api::ListParams;

use super::nmstate::{create, nnces, nnss, true_condition, worker_policy};
use super::*;

fn nodes(c: &kube::Client) -> kube::api::Api<kube::api::DynamicObject> {
    api(c, "Node", "nodes")
}

async fn node(c: &kube::Client, name: &str) -> Value {
    value(&nodes(c).get(name).await.unwrap())
}

/// (key, value, effect) of each taint of `node`.
fn taints(node: &Value) -> Vec<(String, String, String)> {
    let s = |t: &Value, k: &str| t[k].as_str().unwrap_or("").to_string();
    node["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (s(t, "key"), s(t, "value"), s(t, "effect")))
        .collect()
}

fn taint(key: &str, value: &str, effect: &str) -> (String, String, String) {
    (key.into(), value.into(), effect.into())
}

/// kubernetes pkg/controller/nodelifecycle/node_lifecycle_controller.go tryUpdateNodeHealth
/// (every condition Unknown, NodeStatusUnknown), doNoScheduleTaintingPass and
/// doNoExecuteTaintingPass (`node.kubernetes.io/unreachable`); kubevirt
/// pkg/virt-controller/watch/node/node.go markNodeAsUnresponsive (`kubevirt.io/schedulable`
/// false); virt-handler never labels a node it does not run on (heartbeat.go do) and its
/// DaemonSet does not tolerate the infra taint.
#[tokio::test]
async fn the_default_cluster_has_an_infra_node_a_not_ready_worker_and_one_without_spare_nics() {
    let (_sim, client) = untidy_cluster().await;
    let listed = nodes(&client).list(&ListParams::default()).await.unwrap();
    let mut names: Vec<String> = listed
        .items
        .iter()
        .map(|n| n.metadata.name.clone().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "control-plane-0",
            "control-plane-1",
            "control-plane-2",
            "infra-0",
            "worker-0",
            "worker-1",
            "worker-2",
            "worker-3",
            "worker-4",
            "worker-5"
        ]
    );

    let infra = node(&client, "infra-0").await;
    let labels = &infra["metadata"]["labels"];
    assert!(
        labels["node-role.kubernetes.io/infra"].is_string(),
        "{labels}"
    );
    assert!(
        labels["node-role.kubernetes.io/worker"].is_string(),
        "{labels}"
    );
    assert!(labels["kubevirt.io/schedulable"].is_null(), "{labels}");
    assert_eq!(
        taints(&infra),
        [
            taint("node-role.kubernetes.io/infra", "reserved", "NoSchedule"),
            taint("node-role.kubernetes.io/infra", "reserved", "NoExecute")
        ]
    );

    let down = node(&client, "worker-3").await;
    assert_eq!(
        down["metadata"]["labels"]["kubevirt.io/schedulable"],
        "false"
    );
    assert!(down["metadata"]["annotations"]["kubevirt.io/heartbeat"].is_string());
    assert_eq!(
        taints(&down),
        [
            taint("node.kubernetes.io/unreachable", "", "NoSchedule"),
            taint("node.kubernetes.io/unreachable", "", "NoExecute")
        ]
    );
    for c in down["status"]["conditions"].as_array().unwrap() {
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some("Unknown"), Some("NodeStatusUnknown")),
            "{c}"
        );
    }

    let bare = node(&client, "worker-4").await;
    assert_eq!(
        bare["metadata"]["labels"]["kubevirt.io/schedulable"],
        "true"
    );
    assert_eq!(cond(&bare, "Ready"), Some("True".to_string()));
    let state = value(&nnss(&client).get("worker-4").await.unwrap());
    let nics: Vec<&str> = state["status"]["currentState"]["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "ethernet")
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(nics, ["eth0"]);
}

fn bridge_on(port: &str) -> Value {
    json!({"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up", "ipv4": {"enabled": false},
        "bridge": {"options": {"stp": {"enabled": false}}, "port": [{"name": port}]}}]})
}

/// A policy on every worker: the worker without eth1 fails it (nmstate refuses a Linux
/// bridge port the node does not have) and the policy is Degraded; the NotReady worker has
/// no enactment; the infra node's handler (kubernetes-nmstate's handler DaemonSet tolerates
/// every taint, controllers/operator/nmstate_controller.go operatorExistsToleration) applies
/// it. pkg/policyconditions/conditions.go setPolicyStatus, calculatePolicyConditionStatus.
#[tokio::test]
async fn a_policy_on_every_worker_fails_where_the_nic_is_missing_and_skips_the_not_ready_one() {
    let (_sim, client) = untidy_cluster().await;
    create(
        &client,
        worker_policy("br1-eth1", bridge_on("eth1"), json!({"maxUnavailable": 7})),
    )
    .await;
    let policy = until(&nncps(&client), "br1-eth1", "Degraded", |p| {
        cond(p, "Degraded") == Some("True".to_string())
    })
    .await;
    assert_eq!(
        true_condition(&policy),
        Some((
            "Degraded".to_string(),
            "1/7 nodes failed to configure".to_string()
        ))
    );
    // Between retries the enactment is Progressing again; it ends Failing for good.
    let failed = until(
        &nnces(&client),
        "worker-4.br1-eth1",
        "Failing, not Progressing",
        |e| {
            cond(e, "Failing") == Some("True".to_string())
                && cond(e, "Progressing") == Some("False".to_string())
        },
    )
    .await;
    let message = failed["status"]["conditions"].to_string();
    assert!(message.contains("holding unknown port eth1"), "{message}");
    until(&nnces(&client), "infra-0.br1-eth1", "Available", |e| {
        cond(e, "Available") == Some("True".to_string())
    })
    .await;
    assert!(nnces(&client)
        .get_opt("worker-3.br1-eth1")
        .await
        .unwrap()
        .is_none());
    // The worker whose eth1 is bonded applies it: nmstate moves the port out of the bond.
    until(&nnces(&client), "worker-5.br1-eth1", "Available", |e| {
        cond(e, "Available") == Some("True".to_string())
    })
    .await;
    let state = value(&nnss(&client).get("worker-5").await.unwrap());
    let eth1 = super::nmstate::interface(&state, "eth1").unwrap();
    assert_eq!(eth1["controller"], "br1", "{eth1}");
    let bond = super::nmstate::interface(&state, "bond0").unwrap();
    assert_eq!(bond["link-aggregation"]["port"], json!(["eth3"]), "{bond}");
}

/// A policy aimed at the NotReady worker only: nothing is enacted there, and the policy is
/// Available with that node "ignored due to NotReady state" (the handlers of the other nodes
/// compute it). pkg/policyconditions/conditions.go setPolicyStatus.
#[tokio::test]
async fn a_policy_on_a_not_ready_node_enacts_nothing_and_says_the_node_was_ignored() {
    let (_sim, client) = untidy_cluster().await;
    let only = json!({"nodeSelector": {"kubernetes.io/hostname": "worker-3"}});
    create(&client, worker_policy("br1-down", bridge_on("eth1"), only)).await;
    let policy = until(&nncps(&client), "br1-down", "Available", |p| {
        cond(p, "Available") == Some("True".to_string())
    })
    .await;
    assert_eq!(
        true_condition(&policy),
        Some((
            "Available".to_string(),
            "0/1 nodes successfully configured, 1 nodes ignored due to NotReady state".to_string()
        ))
    );
    assert!(nnces(&client)
        .get_opt("worker-3.br1-down")
        .await
        .unwrap()
        .is_none());
}

/// kube-scheduler has no filter on the Ready condition: a VM pinned to the NotReady worker is
/// kept off by the `node.kubernetes.io/unreachable:NoSchedule` taint, and says so
/// (pkg/scheduler/framework/plugins/tainttoleration Filter, its reason
/// "node(s) had untolerated taint {key: value}").
#[tokio::test]
async fn a_vm_pinned_to_the_not_ready_worker_is_unschedulable_for_its_unreachable_taint() {
    let (_sim, client) = untidy_cluster().await;
    let pinned = json!({"nodeSelector": {"kubernetes.io/hostname": "worker-3"}});
    vm_api(&client)
        .create(&kube::api::PostParams::default(), &rhel_vm("stuck", pinned))
        .await
        .unwrap();
    let (_, message) = unschedulable_message(&client, "stuck").await;
    assert!(
        message.starts_with("0/10 nodes are available:")
            && message
                .contains("1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }")
            && message.contains(
                "1 node(s) had untolerated taint {node-role.kubernetes.io/infra: reserved}"
            ),
        "{message}"
    );
}

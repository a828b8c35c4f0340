//! Policies enacted node by node: conditions, enactments, node state.

use super::*;

fn trunk(port: &str) -> Value {
    json!({"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up", "ipv4": {"enabled": false},
        "bridge": {"options": {"stp": {"enabled": false}},
                   "port": [{"name": port, "vlan": {"mode": "trunk", "trunk-tags": [{"id": 10}, {"id-range": {"min": 20, "max": 30}}]}}]}}]})
}

fn strings(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// kubernetes-nmstate controllers/handler/nodenetworkconfigurationpolicy_controller.go
/// Reconcile and incrementUnavailableNodeCount (one node at a time with maxUnavailable 1);
/// pkg/policyconditions/conditions.go setPolicyStatus and SetPolicySuccess (every condition
/// carries the reason SuccessfullyConfigured); api/v1beta1 NewEnactment (the enactment is
/// owned by its Node and labelled with policy and node).
#[tokio::test]
async fn a_trunk_bridge_is_enacted_one_node_at_a_time_and_the_policy_becomes_available() {
    let (_sim, client) = cluster().await;
    create(
        &client,
        worker_policy("br1-eth1", trunk("eth1"), json!({"maxUnavailable": 1})),
    )
    .await;
    let progress = progress_of(&client, "br1-eth1").await;
    assert_eq!(
        progress,
        strings(&[
            ("Progressing", "Policy is progressing 0/3 nodes finished"),
            ("Progressing", "Policy is progressing 1/3 nodes finished"),
            ("Progressing", "Policy is progressing 2/3 nodes finished"),
            ("Available", "3/3 nodes successfully configured"),
        ])
    );
    let policy = value(&nncps(&client).get("br1-eth1").await.unwrap());
    let ok = |ty: &str, status: &str| {
        (
            ty.to_string(),
            status.to_string(),
            "SuccessfullyConfigured".to_string(),
        )
    };
    assert_eq!(
        reasons(&policy),
        [
            ok("Available", "True"),
            ok("Degraded", "False"),
            ok("Progressing", "False"),
            ok("Ignored", "False")
        ]
    );

    let enactment = value(&nnces(&client).get("worker-1.br1-eth1").await.unwrap());
    let labels = &enactment["metadata"]["labels"];
    assert_eq!(
        (
            labels["nmstate.io/policy"].as_str(),
            labels["nmstate.io/node"].as_str()
        ),
        (Some("br1-eth1"), Some("worker-1"))
    );
    let node = api(&client, "Node", "nodes").get("worker-1").await.unwrap();
    let owner = &enactment["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            owner["kind"].as_str(),
            owner["apiVersion"].as_str(),
            owner["name"].as_str(),
            owner["uid"].as_str()
        ),
        (
            Some("Node"),
            Some("v1"),
            Some("worker-1"),
            node.metadata.uid.as_deref()
        )
    );
    assert_eq!(
        true_condition(&enactment),
        Some(("Available".into(), "successfully reconciled".into()))
    );
    assert!(
        nnces(&client)
            .get_opt("control-plane-0.br1-eth1")
            .await
            .unwrap()
            .is_none(),
        "the selector left out control planes"
    );
    let state = value(&nnss(&client).get("worker-1").await.unwrap());
    assert_eq!(
        interface(&state, "br1").expect("br1 on the node")["bridge"]["port"][0]["name"],
        "eth1"
    );
    let control = value(&nnss(&client).get("control-plane-0").await.unwrap());
    assert!(interface(&control, "br1").is_none());

    set_desired(
        &client,
        "br1-eth1",
        json!({"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "absent"}]}),
    )
    .await;
    until(&nnss(&client), "worker-1", "br1 removed", |s| {
        interface(s, "br1").is_none()
    })
    .await;
}

/// kubernetes-nmstate nodenetworkconfigurationpolicy_controller.go Reconcile (a failed apply
/// is retried until RetriesUntilFail, then the enactment is Failing with FailedToConfigure and
/// keeps its slot) and shouldAbortReconcile (a Pending node aborts once the failed enactments
/// reach maxUnavailable); policyconditions setPolicyStatus ("…, N nodes aborted
/// configuration"); the message of pkg/client/client.go ApplyDesiredState through
/// pkg/nmstatectl/nmstatectl.go nmstatectlWithInput.
#[tokio::test]
async fn a_port_the_node_lacks_fails_after_retries_and_aborts_the_others_at_max_unavailable() {
    let (_sim, client) = cluster().await;
    let before = value(&nnss(&client).get("worker-0").await.unwrap());
    create(
        &client,
        worker_policy("br1-eth9", trunk("eth9"), json!({"maxUnavailable": 1})),
    )
    .await;
    let progress = progress_of(&client, "br1-eth9").await;
    assert_eq!(
        progress.last().unwrap(),
        &(
            "Degraded".to_string(),
            "1/3 nodes failed to configure, 2 nodes aborted configuration".to_string()
        ),
        "{progress:?}"
    );
    let states = enactment_states(&client, "br1-eth9").await;
    let types: Vec<&str> = states.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(types, ["Aborted", "Aborted", "Failing"]);
    assert!(
        states[0]
            .1
            .starts_with("reconciliation of enactment \"worker-"),
        "{states:?}"
    );
    assert!(
        states[0].1.ends_with(".br1-eth9\" has aborted"),
        "{states:?}"
    );
    let failing = &states[2].1;
    assert!(
        failing.starts_with("error reconciling NodeNetworkConfigurationPolicy on node worker-")
            && failing.contains(" at desired state apply: \"\",\n , NmstateError: ")
            && failing.contains("NmstateError: InvalidArgument: Controller interface br1 is holding unknown port eth9")
            && failing.ends_with("failed to execute nmstatectl apply --no-commit --timeout 480: exit status 1"),
        "{failing}"
    );
    let params = ListParams::default().labels("nmstate.io/policy=br1-eth9");
    let all = nnces(&client).list(&params).await.unwrap().items;
    let failed = all
        .iter()
        .map(value)
        .find(|e| cond(e, "Failing").as_deref() == Some("True"))
        .unwrap();
    let generation = failed["status"]["policyGeneration"].to_string();
    assert_eq!(failed["status"]["retryCount"][&generation], 5);
    let after = value(&nnss(&client).get("worker-0").await.unwrap());
    assert_eq!(
        after["status"]["currentState"],
        before["status"]["currentState"]
    );
}

/// kubernetes-nmstate nodenetworkconfigurationpolicy_controller.go shouldAbortReconcile: a
/// failed node keeps its slot, but with maxUnavailable 2 one failure leaves a slot, so the
/// remaining nodes still apply (and here fail too) rather than abort.
#[tokio::test]
async fn one_failure_below_max_unavailable_does_not_abort_the_other_nodes() {
    let (_sim, client) = cluster().await;
    let dummy = json!({"interfaces": [{"name": "dummy7", "type": "dummy", "state": "up"}]});
    let only_worker0 = json!({"nodeSelector": {"kubernetes.io/hostname": "worker-0", "node-role.kubernetes.io/worker": ""}});
    create(&client, worker_policy("dummy7", dummy, only_worker0)).await;
    assert_eq!(
        progress_of(&client, "dummy7").await.last().unwrap().0,
        "Available"
    );

    let on_dummy = json!({"interfaces": [{"name": "br7", "type": "linux-bridge", "state": "up",
        "bridge": {"port": [{"name": "dummy7", "vlan": {"mode": "trunk", "trunk-tags": [{"id": 7}]}}]}}]});
    create(
        &client,
        worker_policy("br7", on_dummy, json!({"maxUnavailable": 2})),
    )
    .await;
    let progress = progress_of(&client, "br7").await;
    assert_eq!(
        progress.last().unwrap(),
        &(
            "Degraded".to_string(),
            "2/3 nodes failed to configure".to_string()
        ),
        "{progress:?}"
    );
    let types: Vec<String> = enactment_states(&client, "br7")
        .await
        .into_iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(types, ["Available", "Failing", "Failing"]);
}

/// kubernetes-nmstate pkg/policyconditions/conditions.go setPolicyStatus and
/// SetPolicyNotMatching.
#[tokio::test]
async fn a_policy_that_matches_no_node_is_ignored() {
    let (_sim, client) = cluster().await;
    let nowhere = json!({"nodeSelector": {"vstp.io/no-such-node": "yes"}});
    create(&client, worker_policy("nowhere", trunk("eth1"), nowhere)).await;
    assert_eq!(
        progress_of(&client, "nowhere").await,
        strings(&[("Ignored", "Policy does not match any node")])
    );
    let policy = value(&nncps(&client).get("nowhere").await.unwrap());
    assert!(
        reasons(&policy).iter().all(|r| r.2 == "NoMatchingNode"),
        "{:?}",
        reasons(&policy)
    );
}

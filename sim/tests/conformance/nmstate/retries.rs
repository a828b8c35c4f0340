//! A failed apply is retried: the enactment is Failing and Progressing with reason Retrying,
//! the policy Degraded meanwhile, and Available once the retry succeeds.

use super::*;

/// (Failing, Progressing, reason of Failing, message of Failing) of an enactment.
fn retry_view(e: &Value) -> (String, String, String, String) {
    let c = |ty: &str, field: &str| {
        e["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == ty)
            .and_then(|c| c[field].as_str())
            .unwrap_or("")
            .to_string()
    };
    (
        c("Failing", "status"),
        c("Progressing", "status"),
        c("Failing", "reason"),
        c("Failing", "message"),
    )
}

/// kubernetes-nmstate controllers/handler/nodenetworkconfigurationpolicy_controller.go
/// Reconcile (NotifyRetrying with "Retrying n/5" after incrementNNCERetryCount, a requeue
/// through the rate limiter, NotifySuccess on a later apply), pkg/enactmentstatus/conditions/
/// conditions.go SetRetry (Failing and Progressing True, reason Retrying), and
/// pkg/policyconditions/conditions.go setPolicyStatus (a Failing enactment makes the policy
/// Degraded, whether it retries or not).
#[tokio::test]
async fn a_failed_apply_is_retried_and_the_policy_ends_available_after_being_degraded() {
    let (_sim, client) = cluster_with_faults("nncp-apply-flaky=2").await;
    let desired = json!({"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up",
        "bridge": {"port": [{"name": "eth1", "vlan": {"mode": "trunk", "trunk-tags": [{"id": 10}]}}]}}]});
    create(
        &client,
        worker_policy("flaky", desired, json!({"maxUnavailable": 3})),
    )
    .await;
    let history = history_until(&nnces(&client), "worker-0.flaky", "Available", |e| {
        cond(e, "Available").as_deref() == Some("True")
    })
    .await;
    let retries: Vec<(String, String, String, String)> = history
        .iter()
        .map(retry_view)
        .filter(|v| v.2 == "Retrying")
        .collect::<Vec<_>>()
        .into_iter()
        .fold(Vec::new(), |mut seen, v| {
            if seen.last() != Some(&v) {
                seen.push(v);
            }
            seen
        });
    let message = |n: u32| {
        format!(
            "failed to reconcile NodeNetworkConfigurationPolicy on node worker-0. Retrying {n}/5"
        )
    };
    assert_eq!(
        retries,
        [
            ("True".into(), "True".into(), "Retrying".into(), message(2)),
            ("True".into(), "True".into(), "Retrying".into(), message(3)),
        ],
        "the first two applies failed and were retried"
    );
    let last = history.last().unwrap();
    assert_eq!(retry_view(last).0, "False");
    let generation = last["status"]["policyGeneration"].to_string();
    assert_eq!(last["status"]["retryCount"][&generation], 2);

    let progress = progress_of(&client, "flaky").await;
    assert_eq!(
        progress.last().unwrap(),
        &(
            "Available".to_string(),
            "3/3 nodes successfully configured".to_string()
        )
    );
}

/// kubernetes-nmstate pkg/policyconditions/conditions.go setPolicyStatus: while enactments
/// retry, the policy shows Degraded ("n/3 nodes failed to configure") before it ends
/// Available.
#[tokio::test]
async fn the_policy_is_degraded_while_enactments_retry() {
    let (_sim, client) = cluster_with_faults("nncp-apply-flaky=1").await;
    let desired = json!({"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up",
        "bridge": {"port": [{"name": "eth1", "vlan": {"mode": "trunk", "trunk-tags": [{"id": 10}]}}]}}]});
    create(
        &client,
        worker_policy("flaky1", desired, json!({"maxUnavailable": 1})),
    )
    .await;
    let history = history_until(&nncps(&client), "flaky1", "Available", |p| {
        cond(p, "Available").as_deref() == Some("True")
    })
    .await;
    let degraded: Vec<String> = history
        .iter()
        .filter(|p| cond(p, "Degraded").as_deref() == Some("True"))
        .filter_map(|p| true_condition(p).map(|c| c.1))
        .collect();
    assert!(
        degraded
            .iter()
            .any(|m| m == "1/3 nodes failed to configure"),
        "Degraded while a node retried: {degraded:?}"
    );
}

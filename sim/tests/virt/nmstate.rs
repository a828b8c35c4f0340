//! NMState: policies enacted node by node with the reference's conditions; node state as
//! NodeNetworkState; invalid desired states degrade the policy and leave nodes untouched.

use super::*;

fn nnces(c: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        c.clone(),
        &resource(
            "nmstate.io",
            "v1beta1",
            "NodeNetworkConfigurationEnactment",
            "nodenetworkconfigurationenactments",
        ),
    )
}
fn nnss(c: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        c.clone(),
        &resource(
            "nmstate.io",
            "v1beta1",
            "NodeNetworkState",
            "nodenetworkstates",
        ),
    )
}

fn trunk_policy(name: &str, port: &str, spec: Value) -> DynamicObject {
    let mut policy = json!({"apiVersion": "nmstate.io/v1", "kind": "NodeNetworkConfigurationPolicy", "metadata": {"name": name},
        "spec": {"nodeSelector": {"node-role.kubernetes.io/worker": ""},
                 "desiredState": {"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up", "ipv4": {"enabled": false},
                    "bridge": {"options": {"stp": {"enabled": false}},
                               "port": [{"name": port, "vlan": {"mode": "trunk", "trunk-tags": [{"id": 10}, {"id-range": {"min": 20, "max": 30}}]}}]}}]}}});
    json_patch::merge(&mut policy["spec"], &spec);
    serde_json::from_value(policy).unwrap()
}

/// The condition of `ty` that is True on `o`, as (reason, message).
fn true_condition(o: &Value) -> Option<(String, String)> {
    let c = o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["status"] == "True")?;
    Some((
        c["type"].as_str()?.to_string(),
        c["message"].as_str().unwrap_or("").to_string(),
    ))
}

/// Every distinct (true condition, message) of a policy, until it is Available, Degraded or
/// Ignored.
async fn progress_of(client: &kube::Client, name: &str) -> Vec<(String, String)> {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut seen: Vec<(String, String)> = Vec::new();
    let done = tokio::time::timeout(BUDGET, async {
        let mut stream = std::pin::pin!(watcher::watcher(nncps(client), cfg));
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) = ev {
                let Some(now) = true_condition(&value(&o)) else {
                    continue;
                };
                if seen.last() != Some(&now) {
                    seen.push(now.clone());
                }
                if now.0 != "Progressing" {
                    return;
                }
            }
        }
    })
    .await;
    assert!(done.is_ok(), "{name} never settled: {seen:?}");
    seen
}

fn interface<'a>(state: &'a Value, name: &str) -> Option<&'a Value> {
    state["status"]["currentState"]["interfaces"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)
}

#[tokio::test]
async fn a_trunk_bridge_is_enacted_one_node_at_a_time_and_the_policy_becomes_available() {
    let (_sim, client) = cluster().await;
    let policy = trunk_policy("br1-eth1", "eth1", json!({"maxUnavailable": 1}));
    nncps(&client)
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    let progress = progress_of(&client, "br1-eth1").await;
    let expected: Vec<(String, String)> = [
        ("Progressing", "Policy is progressing 0/3 nodes finished"),
        ("Progressing", "Policy is progressing 1/3 nodes finished"),
        ("Progressing", "Policy is progressing 2/3 nodes finished"),
        ("Available", "3/3 nodes successfully configured"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(progress, expected);
    let policy = value(&nncps(&client).get("br1-eth1").await.unwrap());
    let reasons: Vec<(&str, &str, &str)> = policy["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&("Available", "True", "SuccessfullyConfigured")),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("Degraded", "False", "")) && reasons.contains(&("Ignored", "False", "")),
        "{reasons:?}"
    );

    let enactment = value(&nnces(&client).get("worker-1.br1-eth1").await.unwrap());
    assert_eq!(
        enactment["metadata"]["labels"]["nmstate.io/policy"],
        "br1-eth1"
    );
    assert_eq!(
        enactment["metadata"]["labels"]["nmstate.io/node"],
        "worker-1"
    );
    assert_eq!(true_condition(&enactment).unwrap().0, "Available");
    assert!(
        nnces(&client)
            .get_opt("control-plane-0.br1-eth1")
            .await
            .unwrap()
            .is_none(),
        "the selector left out control planes"
    );
    let state = value(&nnss(&client).get("worker-1").await.unwrap());
    let br1 = interface(&state, "br1").expect("br1 on the node");
    assert_eq!(br1["bridge"]["port"][0]["name"], "eth1");
    assert!(interface(
        &value(&nnss(&client).get("control-plane-0").await.unwrap()),
        "br1"
    )
    .is_none());

    let absent = json!({"spec": {"desiredState": {"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "absent"}]}}});
    nncps(&client)
        .patch("br1-eth1", &PatchParams::default(), &Patch::Merge(absent))
        .await
        .unwrap();
    until(&nnss(&client), "worker-1", "br1 removed", |s| {
        interface(s, "br1").is_none()
    })
    .await;
}

#[tokio::test]
async fn a_port_the_node_lacks_degrades_the_policy_and_leaves_nodes_untouched() {
    let (_sim, client) = cluster().await;
    let before = value(&nnss(&client).get("worker-0").await.unwrap());
    nncps(&client)
        .create(
            &PostParams::default(),
            &trunk_policy("br1-eth9", "eth9", json!({"maxUnavailable": 1})),
        )
        .await
        .unwrap();
    let progress = progress_of(&client, "br1-eth9").await;
    assert_eq!(
        progress.last().unwrap(),
        &(
            "Degraded".to_string(),
            "1/3 nodes failed to configure".to_string()
        )
    );
    let enactments = nnces(&client)
        .list(&kube::api::ListParams::default().labels("nmstate.io/policy=br1-eth9"))
        .await
        .unwrap()
        .items;
    let mut states: Vec<(String, String)> = enactments
        .iter()
        .map(|e| {
            let (ty, message) = true_condition(&value(e)).unwrap();
            (ty, message)
        })
        .collect();
    states.sort();
    assert_eq!(
        states.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["Aborted", "Aborted", "Failing"]
    );
    assert!(
        states[2].1.contains("port eth9 does not exist"),
        "{states:?}"
    );
    let after = value(&nnss(&client).get("worker-0").await.unwrap());
    assert_eq!(
        after["status"]["currentState"],
        before["status"]["currentState"]
    );
}

#[tokio::test]
async fn a_policy_that_matches_no_node_is_ignored() {
    let (_sim, client) = cluster().await;
    let policy = trunk_policy(
        "nowhere",
        "eth1",
        json!({"nodeSelector": {"vstp.io/no-such-node": "yes"}}),
    );
    nncps(&client)
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    assert_eq!(
        progress_of(&client, "nowhere").await,
        [(
            "Ignored".to_string(),
            "Policy does not match any node".to_string()
        )]
    );
}

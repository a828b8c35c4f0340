//! nmstate's checks of Linux bridge port VLAN filtering, and kubernetes-nmstate's default.

use super::*;

fn bridge_with(vlan: Option<Value>) -> Value {
    let mut port = json!({"name": "eth1"});
    if let Some(vlan) = vlan {
        port["vlan"] = vlan;
    }
    json!({"interfaces": [{"name": "br1", "type": "linux-bridge", "state": "up", "bridge": {"port": [port]}}]})
}

/// nmstate rust/src/lib/ifaces/bridge_vlan.rs BridgePortVlanConfig::sanitize: a trunk port
/// without trunk-tags is refused with nmstate's words, on every node, after
/// kubernetes-nmstate's retries.
#[tokio::test]
async fn a_trunk_port_without_trunk_tags_is_refused() {
    let (_sim, client) = cluster().await;
    let vlan = json!({"mode": "trunk"});
    create(
        &client,
        worker_policy(
            "no-tags",
            bridge_with(Some(vlan)),
            json!({"maxUnavailable": 3}),
        ),
    )
    .await;
    let progress = progress_of(&client, "no-tags").await;
    assert_eq!(
        progress.last().unwrap(),
        &(
            "Degraded".to_string(),
            "3/3 nodes failed to configure".to_string()
        )
    );
    for (ty, message) in enactment_states(&client, "no-tags").await {
        assert_eq!(ty, "Failing");
        assert!(
            message.contains("NmstateError: InvalidArgument: Bridge VLAN filtering trunk mode cannot have empty trunk-tags"),
            "{message}"
        );
    }
}

/// nmstate bridge_vlan.rs validate_overlap_trunk_tags, and sanitize's access-mode rule.
#[tokio::test]
async fn overlapping_trunk_tags_and_an_access_port_with_trunk_tags_are_refused() {
    let (_sim, client) = cluster().await;
    let cases = [
        (
            "overlap",
            json!({"mode": "trunk", "trunk-tags": [{"id-range": {"min": 20, "max": 30}}, {"id": 25}]}),
            "Bridge VLAN trunk tag id=25 is overlapping with other tag id-range=[20,30]",
        ),
        (
            "access-trunk",
            json!({"mode": "access", "tag": 10, "trunk-tags": [{"id": 7}]}),
            "Bridge VLAN filtering access mode cannot have trunk-tags defined",
        ),
    ];
    for (name, vlan, words) in cases {
        create(
            &client,
            worker_policy(name, bridge_with(Some(vlan)), json!({"maxUnavailable": 3})),
        )
        .await;
        assert_eq!(
            progress_of(&client, name).await.last().unwrap().0,
            "Degraded"
        );
        let states = enactment_states(&client, name).await;
        assert!(
            states.iter().all(|s| s.1.contains(words)),
            "{name}: {states:?}"
        );
    }
}

/// kubernetes-nmstate pkg/bridge/bridge.go ApplyDefaultVlanFiltering: a port of an up Linux
/// bridge without VLAN filtering trunks VLANs 2-4094, as the enactment's desiredState and the
/// node's state show.
#[tokio::test]
async fn a_port_without_vlan_filtering_gets_the_default_trunk() {
    let (_sim, client) = cluster().await;
    create(
        &client,
        worker_policy("plain", bridge_with(None), json!({})),
    )
    .await;
    assert_eq!(
        progress_of(&client, "plain").await.last().unwrap().0,
        "Available"
    );
    let default = json!({"mode": "trunk", "trunk-tags": [{"id-range": {"min": 2, "max": 4094}}]});
    let enactment = value(&nnces(&client).get("worker-0.plain").await.unwrap());
    assert_eq!(
        enactment["status"]["desiredState"]["interfaces"][0]["bridge"]["port"][0]["vlan"],
        default
    );
    let state = value(&nnss(&client).get("worker-0").await.unwrap());
    assert_eq!(
        interface(&state, "br1").unwrap()["bridge"]["port"][0]["vlan"],
        default
    );
}

//! Linux bridge secondary networks: what the bridge CNI plugin does with the bridge a NAD
//! names, bridge-marker's node resources, and the launcher pod KubeVirt renders for them.

use kube::api::{ListParams, PostParams};

use super::*;
use common::net::{nad, nad_with, nads, reaches, start, trunk_bridge, vm_on};

const BRIDGE_RESOURCE: &str = "bridge.network.kubevirt.io/br1";

async fn events(client: &kube::Client, reason: &str) -> Vec<Value> {
    let events = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &resource("", "v1", "Event", "events"),
    );
    let list = events.list(&ListParams::default()).await.unwrap();
    list.items
        .iter()
        .map(value)
        .filter(|e| e["reason"] == reason)
        .collect()
}

/// The launcher pods of the VMI `vmi`.
async fn launcher_pods(client: &kube::Client, vmi: &Value) -> Vec<Value> {
    let uid = vmi["metadata"]["uid"].as_str().unwrap();
    let selector = ListParams::default().labels(&format!("kubevirt.io/created-by={uid}"));
    let list = pods(client).list(&selector).await.unwrap();
    list.items.iter().map(value).collect()
}

/// containernetworking/plugins (v1.9.1) plugins/main/bridge/bridge.go `setupBridge` /
/// `ensureBridge`: a bridge the node does not have is created there (no sandbox error); having
/// no uplink, it joins the VMs of that node only.
#[tokio::test]
async fn a_bridge_missing_on_the_node_is_created_there_and_stays_node_local() {
    let (_sim, client) = cluster().await;
    nad(&client, "vlan10", "br1", 10).await;
    start(
        &client,
        vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0"),
    )
    .await;
    start(
        &client,
        vm_on("b", "vlan10", &["10.200.0.2/24"], "worker-0"),
    )
    .await;
    start(
        &client,
        vm_on("c", "vlan10", &["10.200.0.3/24"], "worker-1"),
    )
    .await;
    assert_eq!(
        events(&client, "FailedCreatePodSandBox").await,
        Vec::<Value>::new()
    );
    assert!(
        reaches(&client, "a", "10.200.0.2").await,
        "same node, same bridge"
    );
    assert!(
        !reaches(&client, "a", "10.200.0.3").await,
        "a bridge without an uplink does not leave its node"
    );
}

/// containernetworking/plugins (v1.9.1) plugins/main/bridge/bridge.go `bridgeByName`: a name
/// taken by a link that is no bridge fails the sandbox ("failed to create bridge …").
#[tokio::test]
async fn a_bridge_name_taken_by_a_nic_fails_the_sandbox() {
    let (_sim, client) = cluster().await;
    nad(&client, "on-nic", "eth1", 10).await;
    vm_api(&client)
        .create(
            &PostParams::default(),
            &vm_on("a", "on-nic", &["10.200.0.1/24"], "worker-0"),
        )
        .await
        .unwrap();
    let events_api = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &resource("", "v1", "Event", "events"),
    );
    let event = common::net::until_listed(&events_api, "FailedCreatePodSandBox", |e| {
        e["reason"] == "FailedCreatePodSandBox"
    })
    .await;
    let message = event["message"].as_str().unwrap();
    assert!(
        message.ends_with(
            "plugin type=\"bridge\" name=\"on-nic\" failed (add): failed to create bridge \"eth1\": \"eth1\" already exists but is not a bridge"
        ),
        "{message}"
    );
}

/// kubevirt v1.9.0 pkg/network/multus/nad.go `NetworkToResource` and
/// pkg/virt-controller/services/renderresources.go `WithNetworkResources`: the launcher pod
/// requests the NAD's `k8s.v1.cni.cncf.io/resourceName`; kubernetes' NodeResourcesFit
/// (fit.go `fitsRequest`) finds it nowhere until kubevirt/bridge-marker pkg/marker/marker.go
/// `Update` publishes the bridge NNCP made as the nodes' `bridge.network.kubevirt.io/br1`.
#[tokio::test]
async fn a_nad_with_the_bridge_resource_waits_for_a_node_with_the_bridge() {
    let (_sim, client) = cluster().await;
    let config = json!({"cniVersion": "0.3.1", "name": "vlan10", "type": "bridge", "bridge": "br1", "vlan": 10});
    nad_with(&client, "vlan10", config).await;
    let annotation =
        json!({"metadata": {"annotations": {"k8s.v1.cni.cncf.io/resourceName": BRIDGE_RESOURCE}}});
    nads(&client)
        .patch("vlan10", &PatchParams::default(), &Patch::Merge(annotation))
        .await
        .unwrap();
    let mut vm = value(&vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0"));
    vm["spec"]["template"]["spec"]["nodeSelector"] = Value::Null;
    vm_api(&client)
        .create(&PostParams::default(), &serde_json::from_value(vm).unwrap())
        .await
        .unwrap();
    let pending = until(&vmis(&client), "a", "unschedulable", |v| {
        condition(v, "PodScheduled").is_some_and(|c| c["status"] == "False")
    })
    .await;
    assert_eq!(
        condition(&pending, "PodScheduled").unwrap()["message"],
        "0/6 nodes are available: 3 Insufficient bridge.network.kubevirt.io/br1, 3 node(s) had untolerated taint {node-role.kubernetes.io/master: }."
    );
    let pod = &launcher_pods(&client, &pending).await[0];
    let resources = &pod["spec"]["containers"][0]["resources"];
    assert_eq!(
        (
            resources["requests"][BRIDGE_RESOURCE].as_str(),
            resources["limits"][BRIDGE_RESOURCE].as_str()
        ),
        (Some("1"), Some("1"))
    );

    trunk_bridge(&client, "br1").await;
    let running = until(&vmis(&client), "a", "Running", |v| {
        v["status"]["phase"] == "Running"
    })
    .await;
    let node = running["status"]["nodeName"].as_str().unwrap();
    let nodes =
        Api::<DynamicObject>::all_with(client.clone(), &resource("", "v1", "Node", "nodes"));
    let node = value(&nodes.get(node).await.unwrap());
    assert_eq!(
        (
            node["status"]["capacity"][BRIDGE_RESOURCE].as_str(),
            node["status"]["allocatable"][BRIDGE_RESOURCE].as_str()
        ),
        (Some("1k"), Some("1k"))
    );
}

/// kubevirt v1.9.0 pkg/network/multus/nad.go `NetworkToResource` fails the render of the
/// launcher pod for a NAD that does not exist (pkg/virt-controller/watch/vmi/lifecycle.go
/// `sync`: "failed to render launch manifest: …", Synchronized=False, no pod).
#[tokio::test]
async fn a_missing_nad_fails_the_launcher_render() {
    let (_sim, client) = cluster().await;
    vm_api(&client)
        .create(
            &PostParams::default(),
            &vm_on("a", "nope", &["10.200.0.1/24"], "worker-0"),
        )
        .await
        .unwrap();
    let vmi = until(&vmis(&client), "a", "Synchronized=False", |v| {
        condition(v, "Synchronized").is_some()
    })
    .await;
    let synced = condition(&vmi, "Synchronized").unwrap();
    assert_eq!(
        (synced["reason"].as_str(), synced["message"].as_str()),
        (
            Some("FailedCreate"),
            Some("failed to render launch manifest: failed to locate network attachment definition default/nope")
        )
    );
    assert!(launcher_pods(&client, &vmi).await.is_empty());
}

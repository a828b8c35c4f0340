//! OVN-Kubernetes' user-defined-network controller: the NAD it renders, and the namespace label
//! a primary network needs.

use kube::api::PostParams;

use super::*;
use common::user_networks::{cudns, nads_in, namespace, udns, PRIMARY_LABEL};

/// Creates UDN `name` in `ns` with `spec`; returns it once it has a NetworkCreated condition.
async fn udn(client: &kube::Client, ns: &str, name: &str, spec: Value) -> Value {
    let udn: DynamicObject = serde_json::from_value(json!({"apiVersion": "k8s.ovn.org/v1",
        "kind": "UserDefinedNetwork", "metadata": {"name": name, "namespace": ns}, "spec": spec}))
    .unwrap();
    udns(client, ns)
        .create(&PostParams::default(), &udn)
        .await
        .unwrap();
    until(&udns(client, ns), name, "NetworkCreated", |u| {
        condition(u, "NetworkCreated").is_some()
    })
    .await
}

fn config_of(nad: &Value) -> Value {
    serde_json::from_str(nad["spec"]["config"].as_str().unwrap()).unwrap()
}

/// ovn-kubernetes go-controller/pkg/clustermanager/userdefinednetwork/template/
/// net-attach-def-template.go `renderCNINetworkConfig`: cniVersion 1.1.0, no mtu unless the
/// network sets one, the default join subnets and a transit subnet per family on a primary
/// Layer2 network, allowPersistentIPs only when true; a Localnet gets the underlay MTU
/// (`localnetMTU`) and its VLAN, nothing of the primary networks'.
#[tokio::test]
async fn the_rendered_nad_config_is_upstreams_template() {
    let (_sim, client) = cluster().await;
    namespace(&client, "tenant-a", json!({PRIMARY_LABEL: ""})).await;
    udn(
        &client,
        "tenant-a",
        "l2",
        json!({"topology": "Layer2", "layer2": {"role": "Primary",
        "subnets": ["10.100.0.0/16", "fd00:10::/64"], "ipam": {"lifecycle": "Persistent"}}}),
    )
    .await;
    let nad = value(&nads_in(&client, "tenant-a").get("l2").await.unwrap());
    assert_eq!(
        config_of(&nad),
        json!({"cniVersion": "1.1.0", "type": "ovn-k8s-cni-overlay", "name": "tenant-a_l2",
            "netAttachDefName": "tenant-a/l2", "topology": "layer2", "role": "primary",
            "subnets": "10.100.0.0/16,fd00:10::/64", "allowPersistentIPs": true,
            "joinSubnet": "100.65.0.0/16,fd99::/64", "transitSubnet": "100.88.0.0/16,fd97::/64"})
    );
    assert_eq!(
        (
            nad["metadata"]["labels"]["k8s.ovn.org/user-defined-network"].as_str(),
            nad["metadata"]["finalizers"][0].as_str(),
            nad["metadata"]["ownerReferences"][0]["kind"].as_str()
        ),
        (
            Some(""),
            Some("k8s.ovn.org/user-defined-network-protection"),
            Some("UserDefinedNetwork")
        )
    );

    namespace(&client, "plain", json!({})).await;
    udn(
        &client,
        "plain",
        "ln",
        json!({"topology": "Localnet", "localnet": {"role": "Secondary",
        "physicalNetworkName": "physnet", "vlan": {"mode": "Access", "access": {"id": 20}}}}),
    )
    .await;
    let nad = value(&nads_in(&client, "plain").get("ln").await.unwrap());
    assert_eq!(
        config_of(&nad),
        json!({"cniVersion": "1.1.0", "type": "ovn-k8s-cni-overlay", "name": "plain_ln",
            "netAttachDefName": "plain/ln", "topology": "localnet", "role": "secondary",
            "mtu": 1500, "physicalNetworkName": "physnet", "vlanID": 20})
    );
}

/// ovn-kubernetes go-controller/pkg/clustermanager/userdefinednetwork/controller_helper.go
/// `updateNAD`: no NAD for a primary network in a namespace without the label, and
/// go-controller/pkg/util/util.go `InvalidPrimaryNetworkError` as the UDN's condition
/// (controller.go `newNetworkCreatedCondition`, reason SyncError).
#[tokio::test]
async fn a_primary_udn_in_an_unlabelled_namespace_reports_upstreams_error() {
    let (_sim, client) = cluster().await;
    namespace(&client, "plain", json!({})).await;
    let refused = udn(
        &client,
        "plain",
        "l2",
        json!({"topology": "Layer2", "layer2": {"role": "Primary",
        "subnets": ["10.100.0.0/16"]}}),
    )
    .await;
    let created = condition(&refused, "NetworkCreated").unwrap();
    assert_eq!(
        status_reason_message(created),
        (
            Some("False"),
            Some("SyncError"),
            Some("invalid primary network state for namespace \"plain\": a valid primary user defined network or network attachment definition custom resource, and required namespace label \"k8s.ovn.org/primary-user-defined-network\" must both be present")
        )
    );
    assert!(nads_in(&client, "plain")
        .get_opt("l2")
        .await
        .unwrap()
        .is_none());
}

/// ovn-kubernetes go-controller/pkg/clustermanager/userdefinednetwork/controller.go
/// `updateClusterUDN` / `newClusterNetworkCreatedCondition`: a primary CUDN gets its NAD in the
/// selected namespaces with the label; one without it fails alone, and the condition is False,
/// NetworkAttachmentDefinitionSyncError, with that namespace's error.
#[tokio::test]
async fn a_primary_cluster_udn_skips_a_selected_namespace_without_the_label() {
    let (_sim, client) = cluster().await;
    namespace(
        &client,
        "blue-1",
        json!({"team": "blue", PRIMARY_LABEL: ""}),
    )
    .await;
    namespace(&client, "blue-2", json!({"team": "blue"})).await;
    let cudns = cudns(&client);
    let cudn: DynamicObject = serde_json::from_value(json!({"apiVersion": "k8s.ovn.org/v1",
        "kind": "ClusterUserDefinedNetwork", "metadata": {"name": "blue-net"},
        "spec": {"namespaceSelector": {"matchLabels": {"team": "blue"}},
                 "network": {"topology": "Layer2", "layer2": {"role": "Primary", "subnets": ["10.50.0.0/16"]}}}}))
    .unwrap();
    cudns.create(&PostParams::default(), &cudn).await.unwrap();
    let done = until(&cudns, "blue-net", "NetworkCreated", |c| {
        condition(c, "NetworkCreated").is_some()
    })
    .await;
    let created = condition(&done, "NetworkCreated").unwrap();
    assert_eq!(
        status_reason_message(created),
        (
            Some("False"),
            Some("NetworkAttachmentDefinitionSyncError"),
            Some("invalid primary network state for namespace \"blue-2\": a valid primary user defined network or network attachment definition custom resource, and required namespace label \"k8s.ovn.org/primary-user-defined-network\" must both be present")
        )
    );
    let labelled = value(&nads_in(&client, "blue-1").get("blue-net").await.unwrap());
    assert_eq!(config_of(&labelled)["name"], "cluster_udn_blue-net");
    assert!(nads_in(&client, "blue-2")
        .get_opt("blue-net")
        .await
        .unwrap()
        .is_none());
}

//! Helpers for user-defined networks: namespaces (labelled or not for a primary network) and the
//! namespaced APIs of UDNs and their NADs.

use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{json, Value};

use super::resource;

/// The namespace label OVN-Kubernetes requires, from creation, for a primary network.
pub const PRIMARY_LABEL: &str = "k8s.ovn.org/primary-user-defined-network";

/// The API of `kind` in namespace `ns`.
pub fn namespaced(
    client: &kube::Client,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &resource(group, version, kind, plural))
}

pub fn namespaces(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &resource("", "v1", "Namespace", "namespaces"),
    )
}

/// Creates namespace `name` with `labels`.
pub async fn namespace(client: &kube::Client, name: &str, labels: Value) {
    let ns: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": labels}}))
    .unwrap();
    namespaces(client)
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

pub fn nads_in(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    namespaced(
        client,
        ns,
        "k8s.cni.cncf.io",
        "v1",
        "NetworkAttachmentDefinition",
        "network-attachment-definitions",
    )
}

pub fn udns(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    namespaced(
        client,
        ns,
        "k8s.ovn.org",
        "v1",
        "UserDefinedNetwork",
        "userdefinednetworks",
    )
}

/// OVN-Kubernetes' cluster-scoped UDNs, which select namespaces.
pub fn cudns(client: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        client.clone(),
        &resource(
            "k8s.ovn.org",
            "v1",
            "ClusterUserDefinedNetwork",
            "clusteruserdefinednetworks",
        ),
    )
}

//! A requested address on a primary user-defined network: the VMI annotation
//! `network.kubevirt.io/addresses` through ipam-extensions' pod webhook to OVN-K's allocation.

use kube::api::{ListParams, PostParams};

use super::*;
use common::user_networks::{namespace, namespaced, udns, PRIMARY_LABEL};

pub(crate) const NS: &str = "tenant-a";
const WEBHOOK: &str = "admission webhook \"ipam-claims.k8s.cni.cncf.io\" denied the request";

pub(crate) fn ns_api(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    namespaced(client, NS, group, version, kind, plural)
}

pub(crate) fn tenant_vmis(client: &kube::Client) -> Api<DynamicObject> {
    ns_api(
        client,
        "kubevirt.io",
        "v1",
        "VirtualMachineInstance",
        "virtualmachineinstances",
    )
}

pub(crate) fn tenant_vms(client: &kube::Client) -> Api<DynamicObject> {
    ns_api(
        client,
        "kubevirt.io",
        "v1",
        "VirtualMachine",
        "virtualmachines",
    )
}

/// Namespace tenant-a, labelled for a primary network, with a Layer2 primary UDN on
/// 10.100.0.0/16 with persistent IPs.
pub(crate) async fn tenant(client: &kube::Client) {
    namespace(client, NS, json!({PRIMARY_LABEL: ""})).await;
    let udns = udns(client, NS);
    let udn: DynamicObject = serde_json::from_value(json!({"apiVersion": "k8s.ovn.org/v1", "kind": "UserDefinedNetwork",
        "metadata": {"name": "l2-primary", "namespace": NS},
        "spec": {"topology": "Layer2", "layer2": {"role": "Primary", "subnets": ["10.100.0.0/16"], "ipam": {"lifecycle": "Persistent"}}}}))
    .unwrap();
    udns.create(&PostParams::default(), &udn).await.unwrap();
    until(&udns, "l2-primary", "NetworkCreated", |u| {
        cond(u, "NetworkCreated").as_deref() == Some("True")
    })
    .await;
}

/// Starts a VM on the primary network (l2bridge binding of the pod network `default`) whose
/// template carries `network.kubevirt.io/addresses: <addresses>`.
pub(crate) async fn start_vm(client: &kube::Client, name: &str, addresses: &str) {
    let mut vm = value(&rhel_vm(
        name,
        json!({"domain": {"devices": {"interfaces": [{"name": "default", "binding": {"name": "l2bridge"}}]}}}),
    ));
    vm["metadata"]["namespace"] = json!(NS);
    vm["spec"]["template"]["metadata"]["annotations"] =
        json!({"network.kubevirt.io/addresses": addresses});
    tenant_vms(client)
        .create(&PostParams::default(), &serde_json::from_value(vm).unwrap())
        .await
        .unwrap();
}

pub(crate) async fn running(client: &kube::Client, name: &str) -> Value {
    until(&tenant_vmis(client), name, "running with an address", |v| {
        v["status"]["interfaces"][0]["ipAddress"].is_string()
    })
    .await
}

/// The launcher pods of VMI `vmi`.
pub(crate) async fn launcher_pods(client: &kube::Client, vmi: &Value) -> Vec<Value> {
    let uid = vmi["metadata"]["uid"].as_str().unwrap();
    let pods = ns_api(client, "", "v1", "Pod", "pods");
    let selector = ListParams::default().labels(&format!("kubevirt.io/created-by={uid}"));
    pods.list(&selector)
        .await
        .unwrap()
        .items
        .iter()
        .map(value)
        .collect()
}

/// kubevirt/ipam-extensions pkg/ips/primarynetwork.go `VmiInterfaceIPRequests` (the map keyed
/// by the pod network's interface, bare IPs given the subnet's prefix length, other keys
/// ignored) and pkg/ipamclaimswebhook/podmutator.go `Handle` (the pod's default-network
/// selection); ovn-kubernetes go-controller/pkg/util/multi_network.go
/// `GetPodNADToNetworkMappingWithActiveNetwork` applies it with enable-preconfigured-udn-addresses.
#[tokio::test]
async fn a_requested_address_on_a_primary_udn_reaches_the_vmi_status() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    start_vm(&client, "a", r#"{"default":["10.100.0.200"]}"#).await;
    let a = running(&client, "a").await;
    assert_eq!(a["status"]["interfaces"][0]["ipAddress"], "10.100.0.200");
    let pods = launcher_pods(&client, &a).await;
    let selection: Value = serde_json::from_str(
        pods[0]["metadata"]["annotations"]["v1.multus-cni.io/default-network"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            selection[0]["ips"].clone(),
            selection[0]["ipam-claim-reference"].as_str()
        ),
        (json!(["10.100.0.200/16"]), Some("a.default")),
        "{selection}"
    );
    let claims = ns_api(
        &client,
        "k8s.cni.cncf.io",
        "v1alpha1",
        "IPAMClaim",
        "ipamclaims",
    );
    let claim = value(&claims.get("a.default").await.unwrap());
    assert_eq!(claim["status"]["ips"], json!(["10.100.0.200/16"]));

    start_vm(&client, "b", r#"{"nic0":["10.100.0.201"]}"#).await;
    let b = running(&client, "b").await;
    let ip = b["status"]["interfaces"][0]["ipAddress"].as_str().unwrap();
    assert!(
        ip.starts_with("10.100.") && ip != "10.100.0.201",
        "a key that names no interface asks for nothing: {ip}"
    );
}

/// The VMI of a refused launcher pod: kubevirt v1.9.0 pkg/virt-controller/watch/vmi/lifecycle.go
/// `sync` ("failed to create virtual machine pod: …", reason FailedCreate, through
/// pkg/controller/conditions.go `CheckFailure`); it stays Pending with no launcher pod, and the
/// Warning event FailedCreate says "Error creating pod: …".
async fn refused(client: &kube::Client, name: &str, why: &str) {
    let vmi = until(&tenant_vmis(client), name, "Synchronized=False", |v| {
        condition(v, "Synchronized").is_some()
    })
    .await;
    let synced = condition(&vmi, "Synchronized").unwrap();
    assert_eq!(
        status_reason_message(synced),
        (
            Some("False"),
            Some("FailedCreate"),
            Some(format!("failed to create virtual machine pod: {WEBHOOK}: {why}").as_str())
        )
    );
    let last = holds(&tenant_vmis(client), name, 60.0, "Pending", |v| {
        v["status"]["phase"] == "Pending" && v["status"]["activePods"].is_null()
    })
    .await;
    assert_eq!(
        condition(&last, "Synchronized").unwrap()["reason"],
        "FailedCreate"
    );
    assert!(
        launcher_pods(client, &vmi).await.is_empty(),
        "no launcher pod"
    );
    let events = ns_api(client, "", "v1", "Event", "events");
    let list = events.list(&ListParams::default()).await.unwrap();
    let event = list
        .items
        .iter()
        .map(value)
        .find(|e| e["involvedObject"]["name"] == name && e["reason"] == "FailedCreate")
        .expect("a FailedCreate event");
    assert_eq!(
        (event["type"].as_str(), event["message"].as_str()),
        (
            Some("Warning"),
            Some(format!("Error creating pod: {WEBHOOK}: {why}").as_str())
        )
    );
}

/// kubevirt/ipam-extensions pkg/ips/primarynetwork.go `VmiInterfaceIPRequests` unmarshals the
/// annotation into `map[string][]string`: a JSON list fails, and podmutator.go `Handle` answers
/// `admission.Errored(500, err)` (failurePolicy Fail: no pod).
#[tokio::test]
async fn a_list_of_addresses_is_refused_by_the_ipam_claims_webhook() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    start_vm(&client, "a", r#"["10.100.0.200"]"#).await;
    refused(
        &client,
        "a",
        "json: cannot unmarshal array into Go value of type map[string][]string",
    )
    .await;
}

/// kubevirt/ipam-extensions pkg/ips/primarynetwork.go `VmiInterfaceIPRequests`: an address with
/// a prefix length is no IP (`IsIPv4`/`IsIPv6` parse bare IPs).
#[tokio::test]
async fn a_prefixed_address_is_refused_by_the_ipam_claims_webhook() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    start_vm(&client, "a", r#"{"default":["10.100.0.200/24"]}"#).await;
    refused(&client, "a", "invalid IP address format: 10.100.0.200/24").await;
}

/// ovn-kubernetes go-controller/pkg/util/multi_network.go
/// `GetPodNADToNetworkMappingWithActiveNetwork`: without enable-preconfigured-udn-addresses
/// (ConfigMap openshift-ovn-kubernetes/ovnkube-config) the requested IP is not moved to the
/// primary network and the address is allocated as usual; ipam-extensions still asks for it.
#[tokio::test]
async fn without_preconfigured_udn_addresses_the_request_is_not_honoured() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    let config_maps = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "openshift-ovn-kubernetes",
        &resource("", "v1", "ConfigMap", "configmaps"),
    );
    let published = value(&config_maps.get("ovnkube-config").await.unwrap());
    let conf = published["data"]["ovnkube.conf"].as_str().unwrap();
    assert!(
        conf.contains("enable-preconfigured-udn-addresses=true"),
        "{conf}"
    );
    let off = conf.replace(
        "enable-preconfigured-udn-addresses=true",
        "enable-preconfigured-udn-addresses=false",
    );
    config_maps
        .patch(
            "ovnkube-config",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"ovnkube.conf": off}})),
        )
        .await
        .unwrap();
    start_vm(&client, "a", r#"{"default":["10.100.0.200"]}"#).await;
    let a = running(&client, "a").await;
    let ip = a["status"]["interfaces"][0]["ipAddress"].as_str().unwrap();
    assert!(ip.starts_with("10.100.") && ip != "10.100.0.200", "{ip}");
    let pods = launcher_pods(&client, &a).await;
    let selection = pods[0]["metadata"]["annotations"]["v1.multus-cni.io/default-network"]
        .as_str()
        .unwrap();
    assert!(selection.contains("10.100.0.200/16"), "{selection}");
}

//! VMs on a primary user-defined network: the addresses OVN-K hands out, the IPAMClaim
//! ipam-extensions keeps them in, and the pod interface KubeVirt reports.

use kube::api::{DeleteParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};

use super::primary_udn::{ns_api, running, start_vm, tenant, tenant_vms, NS};
use super::*;
use common::user_networks::{nads_in, namespace};

fn claims(client: &kube::Client) -> Api<DynamicObject> {
    ns_api(
        client,
        "k8s.cni.cncf.io",
        "v1alpha1",
        "IPAMClaim",
        "ipamclaims",
    )
}

/// ovn-kubernetes go-controller/pkg/clustermanager/network_cluster_controller.go
/// `newIPAllocatorForNetwork` / `infrastructureExcludeCIDRs`: on a primary Layer2 network the
/// gateway (.1) and management port (.2) are never handed out, so the first VM gets .3, the
/// next .4 (pkg/allocator/ip/subnet/allocator.go `newIPAMAllocator`, round-robin).
#[tokio::test]
async fn addresses_start_after_the_gateway_and_the_management_port() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    start_vm(&client, "a", "{}").await;
    let a = running(&client, "a").await;
    assert_eq!(a["status"]["interfaces"][0]["ipAddress"], "10.100.0.3");
    start_vm(&client, "b", "{}").await;
    let b = running(&client, "b").await;
    assert_eq!(b["status"]["interfaces"][0]["ipAddress"], "10.100.0.4");
}

/// kubevirt v1.9.0 pkg/network/controllers/vmi.go `calculatePrimaryIfaceStatus`: the pod
/// network's `podInterfaceName` is the default entry of the launcher pod's network-status, the
/// interface OVN-K adds for the primary UDN (go-controller/pkg/cni/cniserver.go
/// `getPrimaryUDNPodRequest`: `ovn-udn1`).
#[tokio::test]
async fn the_pod_interface_of_a_primary_udn_vm_is_ovn_udn1() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    start_vm(&client, "a", "{}").await;
    let a = running(&client, "a").await;
    assert_eq!(a["status"]["interfaces"][0]["podInterfaceName"], "ovn-udn1");
    let outside = boot(&client, "outside", json!({})).await;
    assert_eq!(
        outside["status"]["interfaces"][0]["podInterfaceName"],
        "eth0"
    );
}

/// kubevirt/ipam-extensions pkg/vminetworkscontroller/vmi_controller.go `Reconcile`: the claim
/// `<vm>.<network>` has only `spec.network`, the label `kubevirt.io/vm`, the VM as controller
/// owner and the finalizer `kubevirt.io/persistent-ipam` (pkg/claims/claims.go); OVN-K writes its
/// status (go-controller/pkg/persistentips/allocator.go `UpdateIPAMClaimStatus`); the VM's
/// deletion lifts the finalizer (vm_controller.go `Reconcile`, claims.go `Cleanup`) and the
/// garbage collector deletes the claim with its owner.
#[tokio::test]
async fn the_ipam_claim_is_ipam_extensions_and_goes_with_its_vm() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    start_vm(&client, "a", "{}").await;
    running(&client, "a").await;
    let vm = value(&tenant_vms(&client).get("a").await.unwrap());
    let claim = value(&claims(&client).get("a.default").await.unwrap());
    assert_eq!(claim["spec"], json!({"network": "tenant-a_l2-primary"}));
    assert_eq!(claim["metadata"]["labels"], json!({"kubevirt.io/vm": "a"}));
    assert_eq!(
        claim["metadata"]["finalizers"],
        json!(["kubevirt.io/persistent-ipam"])
    );
    let owner = &claim["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            owner["kind"].as_str(),
            owner["uid"].as_str(),
            owner["controller"].as_bool()
        ),
        (
            Some("VirtualMachine"),
            vm["metadata"]["uid"].as_str(),
            Some(true)
        )
    );
    let allocated = condition(&claim, "IPsAllocated").unwrap();
    assert_eq!(
        (
            claim["status"]["ips"].clone(),
            allocated["reason"].as_str(),
            allocated["message"].as_str()
        ),
        (
            json!(["10.100.0.3/16"]),
            Some("SuccessfulAllocation"),
            Some("IP addresses successfully allocated")
        )
    );

    tenant_vms(&client)
        .delete("a", &DeleteParams::default())
        .await
        .unwrap();
    let uid = claim["metadata"]["uid"].as_str().unwrap().to_string();
    let gone = await_condition(claims(&client), "a.default", conditions::is_deleted(&uid));
    tokio::time::timeout(std::time::Duration::from_secs(30), gone)
        .await
        .expect("the claim goes with its VM")
        .unwrap();
}

/// ovn-kubernetes go-controller/pkg/networkmanager/nad_controller.go
/// `GetActiveNetworkForNamespace`: a namespace without the label is on the default network even
/// with a primary NAD in it, so its VM gets a cluster pod address on eth0.
#[tokio::test]
async fn a_namespace_without_the_label_stays_on_the_default_network() {
    let (_sim, client) = cluster().await;
    namespace(&client, NS, json!({})).await;
    let config = json!({"cniVersion": "1.1.0", "type": "ovn-k8s-cni-overlay", "name": "tenant-a_l2-primary",
        "netAttachDefName": "tenant-a/l2-primary", "topology": "layer2", "role": "primary",
        "subnets": "10.100.0.0/16", "allowPersistentIPs": true});
    let nad: DynamicObject = serde_json::from_value(json!({"apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition", "metadata": {"name": "l2-primary", "namespace": NS},
        "spec": {"config": config.to_string()}}))
    .unwrap();
    nads_in(&client, NS)
        .create(&PostParams::default(), &nad)
        .await
        .unwrap();
    start_vm(&client, "a", "{}").await;
    let a = running(&client, "a").await;
    let ip = a["status"]["interfaces"][0]["ipAddress"].as_str().unwrap();
    assert!(ip.starts_with("10.12"), "a cluster pod address: {ip}");
    assert_eq!(a["status"]["interfaces"][0]["podInterfaceName"], "eth0");
}

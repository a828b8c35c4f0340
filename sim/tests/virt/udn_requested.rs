//! A requested address on a primary UDN as the guest meets it: the address reaches IPAM only
//! through `network.kubevirt.io/addresses`; the guest holds what cloud-init gives it, or OVN's
//! DHCP lease; OVN's port security lets traffic through only from the allocated address; and a
//! host outside the cluster sees the node's address, not the guest's.

use super::*;
use common::user_networks::{namespace, namespaced, udns, PRIMARY_LABEL};

const NS: &str = "tenant-r";
const EXTERNAL: &str = "198.51.100.10";

async fn tenant(client: &kube::Client) {
    namespace(client, NS, json!({PRIMARY_LABEL: ""})).await;
    let udn: DynamicObject = serde_json::from_value(json!({"apiVersion": "k8s.ovn.org/v1", "kind": "UserDefinedNetwork",
        "metadata": {"name": "l2-primary", "namespace": NS},
        "spec": {"topology": "Layer2", "layer2": {"role": "Primary", "subnets": ["10.100.0.0/16"], "ipam": {"lifecycle": "Persistent"}}}})).unwrap();
    udns(client, NS)
        .create(&PostParams::default(), &udn)
        .await
        .unwrap();
    until(&udns(client, NS), "l2-primary", "NetworkCreated", |u| {
        cond(u, "NetworkCreated").as_deref() == Some("True")
    })
    .await;
}

/// A VM on the primary UDN (l2bridge), asking IPAM for `requested` (if any) and configuring its
/// pod NIC (MAC `mac`) with cloud-init network data `eth`; its running VMI.
async fn vm(
    client: &kube::Client,
    name: &str,
    mac: &str,
    requested: Option<&str>,
    eth: Value,
) -> Value {
    let iface = json!({"domain": {"devices": {"interfaces": [{"name": "default", "binding": {"name": "l2bridge"}, "macAddress": mac}]}}});
    let mut vm = value(&rhel_vm(name, iface));
    vm["metadata"]["namespace"] = json!(NS);
    let mut eth = eth;
    eth["match"] = json!({"macaddress": mac});
    let data = json!({"version": 2, "ethernets": {"default": eth}}).to_string();
    vm["spec"]["template"]["spec"]["volumes"][0]["cloudInitNoCloud"]["networkData"] = json!(data);
    if let Some(ip) = requested {
        let asked = json!({"default": [ip]}).to_string();
        vm["spec"]["template"]["metadata"]["annotations"] =
            json!({"network.kubevirt.io/addresses": asked});
    }
    let vms = namespaced(
        client,
        NS,
        "kubevirt.io",
        "v1",
        "VirtualMachine",
        "virtualmachines",
    );
    vms.create(&PostParams::default(), &serde_json::from_value(vm).unwrap())
        .await
        .unwrap();
    let vmis = namespaced(
        client,
        NS,
        "kubevirt.io",
        "v1",
        "VirtualMachineInstance",
        "virtualmachineinstances",
    );
    until(&vmis, name, "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await
}

async fn guest(client: &kube::Client, vmi: &str, command: &str) -> (String, i32) {
    console_in(client, NS, vmi, command).await
}

async fn pings(client: &kube::Client, vmi: &str, to: &str) -> bool {
    let (out, code) = guest(client, vmi, &format!("ping -c 2 -W 1 {to}")).await;
    assert!(code <= 1, "{out}");
    code == 0
}

fn status_ip(vmi: &Value) -> &str {
    vmi["status"]["interfaces"][0]["ipAddress"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test]
async fn a_requested_address_is_the_guests_when_cloud_init_or_dhcp_gives_it() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    let statics = json!({"addresses": ["10.100.0.200/16"], "routes": [{"to": "default", "via": "10.100.0.1"}]});
    let a = vm(
        &client,
        "a",
        "02:00:00:00:0a:01",
        Some("10.100.0.200"),
        statics,
    )
    .await;
    let d = vm(
        &client,
        "d",
        "02:00:00:00:0a:02",
        Some("10.100.0.210"),
        json!({"dhcp4": true}),
    )
    .await;
    let peer = vm(
        &client,
        "peer",
        "02:00:00:00:0a:03",
        None,
        json!({"dhcp4": true}),
    )
    .await;
    assert_eq!(
        (status_ip(&a), status_ip(&d)),
        ("10.100.0.200", "10.100.0.210")
    );
    let (addrs, _) = guest(&client, "d", "ip -j addr").await;
    assert!(
        addrs.contains("\"local\":\"10.100.0.210\""),
        "the DHCP lease: {addrs}"
    );
    assert!(pings(&client, "peer", "10.100.0.200").await);
    assert!(pings(&client, "peer", "10.100.0.210").await);
    assert!(pings(&client, "a", status_ip(&peer)).await);

    // Outside the cluster, the guest's traffic carries its node's address.
    let (seen, code) = guest(
        &client,
        "a",
        &format!("timeout 5 bash -c 'cat </dev/tcp/{EXTERNAL}/8080'"),
    )
    .await;
    let nodes = api(&client, "Node", "nodes");
    let node = value(
        &nodes
            .get(a["status"]["nodeName"].as_str().unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(
        (seen.trim(), code),
        (
            node["status"]["addresses"][0]["address"].as_str().unwrap(),
            0
        )
    );
    assert!(pings(&client, "a", EXTERNAL).await);
}

#[tokio::test]
async fn a_static_address_ipam_did_not_allocate_is_dropped_by_port_security() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    // cloud-init and the request disagree: IPAM allocates .202, the guest configures .201.
    let statics = json!({"addresses": ["10.100.0.201/16"], "routes": [{"to": "default", "via": "10.100.0.1"}]});
    let x = vm(
        &client,
        "x",
        "02:00:00:00:0b:01",
        Some("10.100.0.202"),
        statics,
    )
    .await;
    let peer = vm(
        &client,
        "peer",
        "02:00:00:00:0b:02",
        None,
        json!({"dhcp4": true}),
    )
    .await;
    assert_eq!(
        status_ip(&x),
        "10.100.0.202",
        "the status shows the allocation"
    );
    let (addrs, _) = guest(&client, "x", "ip -j addr").await;
    assert!(addrs.contains("\"local\":\"10.100.0.201\""), "{addrs}");
    assert!(
        !pings(&client, "peer", "10.100.0.202").await,
        "the guest does not hold it"
    );
    assert!(
        !pings(&client, "peer", "10.100.0.201").await,
        "OVN does not send there"
    );
    assert!(
        !pings(&client, "x", status_ip(&peer)).await,
        "its port drops what it sends"
    );
    assert!(!pings(&client, "x", EXTERNAL).await);
}

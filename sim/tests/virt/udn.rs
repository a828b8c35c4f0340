//! Primary user-defined networks: UDN/CUDN conditions and NADs, the namespace label rule, VMs
//! with the l2bridge binding talking east/west without NAT, isolated from other networks, and
//! keeping their address across a migration through the IPAMClaim.

use super::*;
use common::user_networks::{
    cudns, nads_in, namespace, namespaced, namespaces, udns, PRIMARY_LABEL,
};

async fn primary_udn(client: &kube::Client, ns: &str) -> Value {
    let udn: DynamicObject = serde_json::from_value(json!({"apiVersion": "k8s.ovn.org/v1", "kind": "UserDefinedNetwork",
        "metadata": {"name": "l2-primary", "namespace": ns},
        "spec": {"topology": "Layer2", "layer2": {"role": "Primary", "subnets": ["10.100.0.0/16"], "ipam": {"lifecycle": "Persistent"}}}})).unwrap();
    udns(client, ns)
        .create(&PostParams::default(), &udn)
        .await
        .unwrap();
    until(&udns(client, ns), "l2-primary", "NetworkCreated", |u| {
        cond(u, "NetworkCreated").is_some()
    })
    .await
}

/// Namespace tenant-a, labelled for a primary UDN at creation, with its UDN.
async fn labelled_tenant(client: &kube::Client) -> Value {
    let label = json!({PRIMARY_LABEL: ""});
    namespace(client, "tenant-a", label).await;
    primary_udn(client, "tenant-a").await
}

fn condition<'a>(o: &'a Value, ty: &str) -> &'a Value {
    o["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == ty))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn a_primary_udn_needs_the_namespace_label_from_creation_and_creates_its_nad() {
    let (_sim, client) = cluster().await;
    let udn = labelled_tenant(&client).await;
    let created = condition(&udn, "NetworkCreated");
    assert_eq!(
        (created["status"].as_str(), created["reason"].as_str()),
        (Some("True"), Some("NetworkAttachmentDefinitionCreated"))
    );
    assert_eq!(
        created["message"],
        "NetworkAttachmentDefinition has been created"
    );
    assert_eq!(
        condition(&udn, "NetworkAllocationSucceeded")["status"],
        "True"
    );
    let nad = value(
        &nads_in(&client, "tenant-a")
            .get("l2-primary")
            .await
            .unwrap(),
    );
    let config: Value = serde_json::from_str(nad["spec"]["config"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            config["name"].as_str(),
            config["role"].as_str(),
            config["topology"].as_str()
        ),
        (Some("tenant-a_l2-primary"), Some("primary"), Some("layer2"))
    );
    assert_eq!(config["netAttachDefName"], "tenant-a/l2-primary");

    namespace(&client, "plain", json!({})).await;
    let refused = primary_udn(&client, "plain").await;
    let created = condition(&refused, "NetworkCreated");
    assert_eq!(
        (created["status"].as_str(), created["reason"].as_str()),
        (Some("False"), Some("SyncError"))
    );
    assert!(
        created["message"].as_str().unwrap().contains(PRIMARY_LABEL),
        "{created}"
    );
    let namespaces = namespaces(&client);
    let label = json!({"metadata": {"labels": {PRIMARY_LABEL: ""}}});
    let err = api_error(
        namespaces
            .patch("plain", &PatchParams::default(), &Patch::Merge(label))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("label cannot be added/removed after the namespace was created"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_cluster_udn_creates_a_nad_in_every_selected_namespace() {
    let (_sim, client) = cluster().await;
    for (ns, team) in [("blue-1", "blue"), ("blue-2", "blue"), ("red-1", "red")] {
        namespace(&client, ns, json!({"team": team})).await;
    }
    let cudns = cudns(&client);
    let cudn: DynamicObject = serde_json::from_value(json!({"apiVersion": "k8s.ovn.org/v1", "kind": "ClusterUserDefinedNetwork", "metadata": {"name": "blue-net"},
        "spec": {"namespaceSelector": {"matchLabels": {"team": "blue"}},
                 "network": {"topology": "Layer2", "layer2": {"role": "Secondary", "subnets": ["10.50.0.0/24"]}}}})).unwrap();
    cudns.create(&PostParams::default(), &cudn).await.unwrap();
    let done = until(&cudns, "blue-net", "NetworkCreated", |c| {
        cond(c, "NetworkCreated").as_deref() == Some("True")
    })
    .await;
    assert_eq!(
        condition(&done, "NetworkCreated")["message"],
        "NetworkAttachmentDefinition has been created in following namespaces: [blue-1, blue-2]"
    );
    for (ns, present) in [("blue-1", true), ("blue-2", true), ("red-1", false)] {
        let nads = nads_in(&client, ns);
        assert_eq!(
            nads.get_opt("blue-net").await.unwrap().is_some(),
            present,
            "{ns}"
        );
    }
}

/// A VM on the namespace's pod network through the l2bridge binding.
async fn udn_vm(client: &kube::Client, ns: &str, name: &str) -> Value {
    let mut vm = value(&rhel_vm(
        name,
        json!({"domain": {"devices": {"interfaces": [{"name": "default", "binding": {"name": "l2bridge"}}]}}}),
    ));
    vm["metadata"]["namespace"] = json!(ns);
    let vms = namespaced(
        client,
        ns,
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
        ns,
        "kubevirt.io",
        "v1",
        "VirtualMachineInstance",
        "virtualmachineinstances",
    );
    let vmi = until(&vmis, name, "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await;
    // The port-forward cannot reach a primary-UDN guest: the console logs in.
    console_in(client, ns, name, "true").await;
    vmi
}

/// What `command` prints in the guest of tenant-a/`vmi`.
async fn tenant_a(client: &kube::Client, vmi: &str, command: &str) -> String {
    let (out, _) = console_in(client, "tenant-a", vmi, command).await;
    out
}

async fn ping_from(client: &kube::Client, ns: &str, vmi: &str, to: &str) -> bool {
    let (out, code) = console_in(client, ns, vmi, &format!("ping -c 2 -W 1 {to}")).await;
    assert!(code <= 1, "{out}");
    code == 0
}

#[tokio::test]
async fn vms_on_a_primary_udn_talk_without_nat_are_isolated_and_keep_their_ip_across_migration() {
    let (_sim, client) = cluster().await;
    labelled_tenant(&client).await;
    let a = udn_vm(&client, "tenant-a", "a").await;
    let b = udn_vm(&client, "tenant-a", "b").await;
    let outsider = boot(&client, "outsider", json!({})).await;
    let ip_of = |v: &Value| {
        v["status"]["interfaces"][0]["ipAddress"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ip_a, ip_b) = (ip_of(&a), ip_of(&b));
    assert!(
        ip_a.starts_with("10.100.") && ip_b.starts_with("10.100.") && ip_a != ip_b,
        "{ip_a} {ip_b}"
    );
    let addrs = tenant_a(&client, "a", "ip -j addr").await;
    assert!(
        addrs.contains(&format!("\"local\":\"{ip_a}\"")),
        "the guest holds its UDN address (no NAT): {addrs}"
    );
    assert!(
        ping_from(&client, "tenant-a", "a", &ip_b).await,
        "east/west on the UDN"
    );
    assert!(
        !ping_from(&client, "default", "outsider", &ip_a).await,
        "the cluster network does not reach the UDN"
    );
    assert!(
        !ping_from(&client, "tenant-a", "a", &ip_of(&outsider)).await,
        "nor the UDN the cluster network"
    );

    // An established TCP connection from a to b, to be kept across a's migration.
    console_in(
        &client,
        "tenant-a",
        "b",
        "ncat -l -k 5000 >/dev/null 2>&1 &",
    )
    .await;
    console_in(
        &client,
        "tenant-a",
        "a",
        &format!("ncat {ip_b} 5000 >/dev/null 2>&1 &"),
    )
    .await;
    let held = tenant_a(&client, "a", "ss -Htn state established").await;
    assert!(held.contains(&format!("{ip_b}:5000")), "{held:?}");
    let claims = namespaced(
        &client,
        "tenant-a",
        "k8s.cni.cncf.io",
        "v1alpha1",
        "IPAMClaim",
        "ipamclaims",
    );
    let claim = value(&claims.get("a.default").await.unwrap());
    assert_eq!(claim["status"]["ips"][0], format!("{ip_a}/16"));
    let vmims = namespaced(
        &client,
        "tenant-a",
        "kubevirt.io",
        "v1",
        "VirtualMachineInstanceMigration",
        "virtualmachineinstancemigrations",
    );
    let mut m = value(&migration("a"));
    m["metadata"]["namespace"] = json!("tenant-a");
    vmims
        .create(&PostParams::default(), &serde_json::from_value(m).unwrap())
        .await
        .unwrap();
    let vmis = namespaced(
        &client,
        "tenant-a",
        "kubevirt.io",
        "v1",
        "VirtualMachineInstance",
        "virtualmachineinstances",
    );
    let moved = until(&vmis, "a", "migrated", |v| {
        v["status"]["migrationState"]["completed"] == true
    })
    .await;
    let state = &moved["status"]["migrationState"];
    assert_eq!(
        (state["failed"].as_bool(), state["mode"].as_str()),
        (None, Some("PreCopy"))
    );
    assert_ne!(moved["status"]["nodeName"], a["status"]["nodeName"]);
    assert_eq!(ip_of(&moved), ip_a, "the status keeps the address");
    let after = tenant_a(&client, "a", "ip -j addr").await;
    assert!(after.contains(&format!("\"local\":\"{ip_a}\"")), "{after}");
    let kept = value(&claims.get("a.default").await.unwrap());
    assert_eq!(
        kept["metadata"]["uid"], claim["metadata"]["uid"],
        "the same claim, not a new one"
    );
    assert_eq!(kept["status"]["ips"][0], format!("{ip_a}/16"));
    assert_eq!(kept["status"]["ownerPod"]["name"], state["targetPod"]);
    assert_eq!(
        tenant_a(&client, "a", "ss -Htn state established").await,
        held,
        "the TCP connection survived the migration"
    );
    assert!(
        ping_from(&client, "tenant-a", "b", &ip_a).await,
        "reachable at the same address after the migration"
    );
}

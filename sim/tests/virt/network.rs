//! Secondary networks: NADs attached through the node's bridges, the L2 fabric that decides who
//! reaches whom (VLANs across nodes, IPv4 and IPv6), sandbox failures, and the live NAD
//! reference swap of reference §1.

use super::*;

fn nads(c: &kube::Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        c.clone(),
        "default",
        &resource(
            "k8s.cni.cncf.io",
            "v1",
            "NetworkAttachmentDefinition",
            "network-attachment-definitions",
        ),
    )
}

/// br1 on every worker's eth1, trunking VLANs 10 and 20-30; waits until it is Available.
pub(crate) async fn trunk_bridge(client: &kube::Client, bridge: &str) {
    let desired = json!({"interfaces": [{"name": bridge, "type": "linux-bridge", "state": "up",
        "bridge": {"port": [{"name": "eth1", "vlan": {"mode": "trunk", "trunk-tags": [{"id": 10}, {"id-range": {"min": 20, "max": 30}}]}}]}}]});
    policy(client, bridge, desired).await;
}

/// Applies `desired` to every worker and waits until the policy is Available.
pub(crate) async fn policy(client: &kube::Client, name: &str, desired: Value) {
    let policy: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "nmstate.io/v1", "kind": "NodeNetworkConfigurationPolicy",
        "metadata": {"name": name}, "spec": {"nodeSelector": {"node-role.kubernetes.io/worker": ""},
        "desiredState": desired}}),
    )
    .unwrap();
    nncps(client)
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    until(&nncps(client), name, "Available", |p| {
        p["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Available" && c["status"] == "True")
    })
    .await;
}

/// A bridge CNI NAD on `bridge` with access VLAN `vlan`.
pub(crate) async fn nad(client: &kube::Client, name: &str, bridge: &str, vlan: u32) {
    let config = json!({"cniVersion": "0.3.1", "name": name, "type": "bridge", "bridge": bridge, "vlan": vlan, "preserveDefaultVlan": false, "macspoofchk": true});
    nad_with(client, name, config).await;
}

pub(crate) async fn nad_with(client: &kube::Client, name: &str, config: Value) {
    let nad: DynamicObject = serde_json::from_value(json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": "default"}, "spec": {"config": config.to_string()}})).unwrap();
    nads(client)
        .create(&PostParams::default(), &nad)
        .await
        .unwrap();
}

/// A VM with a bridge interface `net1` on `nad`, addresses from cloud-init network data, on
/// `node`.
pub(crate) fn vm_on(name: &str, nad: &str, addresses: &[&str], node: &str) -> DynamicObject {
    let network_data = json!({"version": 2, "ethernets": {"eth1": {"addresses": addresses}}});
    let user_data = format!(
        "#cloud-config\nssh_authorized_keys:\n  - {}",
        PUBLIC_KEY.trim()
    );
    rhel_vm(
        name,
        json!({
            "nodeSelector": {"kubernetes.io/hostname": node},
            "domain": {"devices": {"interfaces": [{"name": "default", "masquerade": {}}, {"name": "net1", "bridge": {}}]}},
            "networks": [{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": nad}}],
            "volumes": [{"name": "cloudinit", "cloudInitNoCloud": {"userData": user_data, "networkData": serde_saphyr::to_string(&network_data).unwrap()}}],
        }),
    )
}

pub(crate) async fn start(client: &kube::Client, vm: DynamicObject) -> Value {
    let name = vm.metadata.name.clone().unwrap();
    api(client, "VirtualMachine", "virtualmachines")
        .create(&PostParams::default(), &vm)
        .await
        .unwrap();
    until(&vmis(client), &name, "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await
}

pub(crate) async fn reaches(client: &kube::Client, from: &str, to: &str) -> bool {
    let six = if to.contains(':') { "-6 " } else { "" };
    let (out, code) = ssh(client, from, KEY_FILE, &format!("ping {six}-c 2 -W 1 {to}"))
        .await
        .unwrap();
    assert!(code == 0 || code == 1, "ping answered {code}: {out}");
    code == 0
}

#[tokio::test]
async fn vlans_isolate_across_nodes_and_a_live_nad_swap_moves_the_interface() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    nad(&client, "vlan20", "br1", 20).await;
    start(
        &client,
        vm_on(
            "a10",
            "vlan10",
            &["10.200.0.1/24", "fd00:200::1/64"],
            "worker-0",
        ),
    )
    .await;
    start(
        &client,
        vm_on(
            "b10",
            "vlan10",
            &["10.200.0.2/24", "fd00:200::2/64"],
            "worker-1",
        ),
    )
    .await;
    start(
        &client,
        vm_on(
            "c20",
            "vlan20",
            &["10.200.0.3/24", "fd00:200::3/64"],
            "worker-1",
        ),
    )
    .await;
    // Same VLAN across nodes: yes; another VLAN on the same subnet: no. IPv4 and IPv6 alike.
    assert!(
        reaches(&client, "a10", "10.200.0.2").await && reaches(&client, "a10", "fd00:200::2").await
    );
    assert!(
        !reaches(&client, "a10", "10.200.0.3").await
            && !reaches(&client, "a10", "fd00:200::3").await
    );

    ssh(
        &client,
        "a10",
        KEY_FILE,
        "ncat -l -k 5000 >/dev/null 2>&1 &",
    )
    .await
    .unwrap();
    let tcp = |from: &'static str| {
        let client = client.clone();
        async move {
            ssh(&client, from, KEY_FILE, "ncat -z -w 2 10.200.0.1 5000")
                .await
                .unwrap()
                .1
        }
    };
    assert_eq!(
        (tcp("b10").await, tcp("c20").await),
        (0, 1),
        "TCP follows the VLANs too"
    );

    // c20 moves to VLAN 10 with a live NAD reference change.
    let (boot_id, _) = ssh(&client, "c20", KEY_FILE, BOOT_ID).await.unwrap();
    let before = value(&vmis(&client).get("c20").await.unwrap());
    // As upstream's test does: swap the NAD and drop the pinning in one patch.
    let patch = json!([{"op": "replace", "path": "/spec/template/spec/networks/1/multus/networkName", "value": "vlan10"},
                       {"op": "remove", "path": "/spec/template/spec/nodeSelector"}]);
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    api(&client, "VirtualMachine", "virtualmachines")
        .patch("c20", &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap();
    let required = until(&vmis(&client), "c20", "MigrationRequired", |v| {
        cond(v, "MigrationRequired").as_deref() == Some("True")
    })
    .await;
    assert_eq!(
        required["spec"]["networks"][1]["multus"]["networkName"],
        "vlan10"
    );
    let reason = required["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "MigrationRequired")
        .unwrap()["reason"]
        .clone();
    assert_eq!(reason, "AutoMigrationDueToLiveUpdate");
    let after = until(&vmis(&client), "c20", "migrated", |v| {
        v["status"]["migrationState"]["completed"] == true && cond(v, "MigrationRequired").is_none()
    })
    .await;
    let m = value(
        &vmims(&client)
            .list(&Default::default())
            .await
            .unwrap()
            .items[0],
    );
    assert!(m["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("kubevirt-workload-update-"));
    assert_eq!(m["metadata"]["labels"]["kubevirt.io/vmi-name"], "c20");
    let vm = value(
        &api(&client, "VirtualMachine", "virtualmachines")
            .get("c20")
            .await
            .unwrap(),
    );
    assert_eq!(cond(&vm, "RestartRequired"), None);
    assert_ne!(after["status"]["nodeName"], before["status"]["nodeName"]);
    for field in ["name", "mac", "interfaceName", "podInterfaceName"] {
        assert_eq!(
            after["status"]["interfaces"][1][field], before["status"]["interfaces"][1][field],
            "{field} kept"
        );
    }
    assert_eq!(
        ssh(&client, "c20", KEY_FILE, BOOT_ID).await.unwrap().0,
        boot_id,
        "not rebooted"
    );
    assert!(
        reaches(&client, "a10", "10.200.0.3").await && reaches(&client, "c20", "fd00:200::1").await
    );
    assert_eq!(tcp("c20").await, 0, "TCP on the new VLAN");
    start(
        &client,
        vm_on("d20", "vlan20", &["10.200.0.4/24"], "worker-2"),
    )
    .await;
    assert!(
        !reaches(&client, "c20", "10.200.0.4").await,
        "the old VLAN is left behind"
    );
}

#[tokio::test]
async fn a_vlan_the_uplink_does_not_trunk_stays_on_its_node() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan99", "br1", 99).await;
    start(&client, vm_on("x", "vlan99", &["10.99.0.1/24"], "worker-0")).await;
    start(&client, vm_on("y", "vlan99", &["10.99.0.2/24"], "worker-1")).await;
    start(&client, vm_on("z", "vlan99", &["10.99.0.3/24"], "worker-0")).await;
    assert!(
        !reaches(&client, "x", "10.99.0.2").await,
        "VLAN 99 is filtered on eth1"
    );
    assert!(
        reaches(&client, "x", "10.99.0.3").await,
        "same node, same bridge and VLAN"
    );
}

#[tokio::test]
async fn a_missing_bridge_fails_the_sandbox_until_a_policy_creates_it() {
    let (_sim, client) = cluster().await;
    nad(&client, "vlan10", "br1", 10).await;
    api(&client, "VirtualMachine", "virtualmachines")
        .create(
            &PostParams::default(),
            &vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0"),
        )
        .await
        .unwrap();
    let events = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &resource("", "v1", "Event", "events"),
    );
    let event = until_listed(&events, "FailedCreatePodSandBox", |e| {
        e["reason"] == "FailedCreatePodSandBox"
    })
    .await;
    assert_eq!(event["type"], "Warning");
    let message = event["message"].as_str().unwrap();
    assert!(
        message.contains("bridge \"br1\" does not exist on node worker-0"),
        "{message}"
    );
    let pod = value(
        &pods(&client)
            .get(event["involvedObject"]["name"].as_str().unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ContainerCreating"
    );
    let vmi = value(&vmis(&client).get("a").await.unwrap());
    assert_eq!(
        vmi["status"]["phase"], "Scheduling",
        "the VMI does not start"
    );

    trunk_bridge(&client, "br1").await;
    until(&vmis(&client), "a", "Running once br1 exists", |v| {
        v["status"]["phase"] == "Running"
    })
    .await;
}

/// Waits until an object of `api` satisfies `pred`; returns it.
pub(crate) async fn until_listed(
    api: &Api<DynamicObject>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let found = tokio::time::timeout(BUDGET, async {
        let mut stream = std::pin::pin!(watcher::watcher(api.clone(), Default::default()));
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) = ev {
                if pred(&value(&o)) {
                    return value(&o);
                }
            }
        }
        Value::Null
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {what} within {BUDGET:?}"))
}

#[tokio::test]
async fn a_nad_swap_on_a_non_migratable_vm_requires_a_restart_and_leaves_the_vmi_alone() {
    let (_sim, client) = cluster().await;
    trunk_bridge(&client, "br1").await;
    nad(&client, "vlan10", "br1", 10).await;
    nad(&client, "vlan20", "br1", 20).await;
    // A bridge binding on the pod network is not live-migratable.
    let mut vm = value(&vm_on("a", "vlan10", &["10.200.0.1/24"], "worker-0"));
    vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0] =
        json!({"name": "default", "bridge": {}});
    start(&client, serde_json::from_value(vm).unwrap()).await;
    let patch = json!({"spec": {"template": {"spec": {"networks": [{"name": "default", "pod": {}}, {"name": "net1", "multus": {"networkName": "vlan20"}}]}}}});
    api(&client, "VirtualMachine", "virtualmachines")
        .patch("a", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    until(
        &api(&client, "VirtualMachine", "virtualmachines"),
        "a",
        "RestartRequired",
        |v| cond(v, "RestartRequired").as_deref() == Some("True"),
    )
    .await;
    let vmi = value(&vmis(&client).get("a").await.unwrap());
    assert_eq!(
        vmi["spec"]["networks"][1]["multus"]["networkName"],
        "vlan10"
    );
    assert_eq!(cond(&vmi, "MigrationRequired"), None);
}

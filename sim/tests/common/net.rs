//! Helpers for secondary networks: NNCPs that build bridges on the workers, NADs, VMs with a
//! bridge NIC addressed by cloud-init, and pings between guests.

use futures::TryStreamExt;
use kube::api::{Api, DynamicObject, PostParams};
use kube::runtime::watcher;
use serde_json::{json, Value};

use super::user_networks::nads_in;
use super::virt::{
    api, cond, nncps, rhel_vm, ssh, until, value, vmis, BUDGET, KEY_FILE, PUBLIC_KEY,
};

/// The NADs of namespace default, where these networks live.
pub fn nads(c: &kube::Client) -> Api<DynamicObject> {
    nads_in(c, "default")
}

/// br1 on every worker's eth1, trunking VLANs 10 and 20-30; waits until it is Available.
pub async fn trunk_bridge(client: &kube::Client, bridge: &str) {
    let desired = json!({"interfaces": [{"name": bridge, "type": "linux-bridge", "state": "up",
        "bridge": {"port": [{"name": "eth1", "vlan": {"mode": "trunk", "trunk-tags": [{"id": 10}, {"id-range": {"min": 20, "max": 30}}]}}]}}]});
    policy(client, bridge, desired).await;
}

/// br1 trunking on every worker with the NADs vlan10 and vlan20 on it: two networks a VM's
/// interface can be swapped between.
pub async fn vlan10_and_vlan20(client: &kube::Client) {
    trunk_bridge(client, "br1").await;
    nad(client, "vlan10", "br1", 10).await;
    nad(client, "vlan20", "br1", 20).await;
}

/// Applies `desired` to every worker and waits until the policy is Available.
pub async fn policy(client: &kube::Client, name: &str, desired: Value) {
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
pub async fn nad(client: &kube::Client, name: &str, bridge: &str, vlan: u32) {
    let config = json!({"cniVersion": "0.3.1", "name": name, "type": "bridge", "bridge": bridge, "vlan": vlan, "preserveDefaultVlan": false, "macspoofchk": true});
    nad_with(client, name, config).await;
}

pub async fn nad_with(client: &kube::Client, name: &str, config: Value) {
    let nad: DynamicObject = serde_json::from_value(json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": "default"}, "spec": {"config": config.to_string()}})).unwrap();
    nads(client)
        .create(&PostParams::default(), &nad)
        .await
        .unwrap();
}

/// A VM with a bridge interface `net1` on `nad`, addresses from cloud-init network data, on
/// `node`.
pub fn vm_on(name: &str, nad: &str, addresses: &[&str], node: &str) -> DynamicObject {
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

pub async fn start(client: &kube::Client, vm: DynamicObject) -> Value {
    let name = vm.metadata.name.clone().unwrap();
    api(client, "VirtualMachine", "virtualmachines")
        .create(&PostParams::default(), &vm)
        .await
        .unwrap();
    let vmi = until(&vmis(client), &name, "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await;
    super::virt::logged_in(client, "default", &name, "cloud-user").await;
    vmi
}

pub async fn reaches(client: &kube::Client, from: &str, to: &str) -> bool {
    let six = if to.contains(':') { "-6 " } else { "" };
    let (out, code) = ssh(client, from, KEY_FILE, &format!("ping {six}-c 2 -W 1 {to}"))
        .await
        .unwrap();
    assert!(code == 0 || code == 1, "ping answered {code}: {out}");
    code == 0
}

/// A VM with only the pod network; cloud-init already describes eth1 for when it appears.
pub fn single_nic_vm(name: &str, eth1: &str) -> DynamicObject {
    let mut vm = value(&vm_on(name, "unused", &[eth1], "worker-0"));
    let spec = &mut vm["spec"]["template"]["spec"];
    spec["domain"]["devices"]["interfaces"] = json!([{"name": "default", "masquerade": {}}]);
    spec["networks"] = json!([{"name": "default", "pod": {}}]);
    spec["nodeSelector"] = Value::Null;
    serde_json::from_value(vm).unwrap()
}

/// Waits until an object of `api` satisfies `pred`; returns it.
pub async fn until_listed(
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

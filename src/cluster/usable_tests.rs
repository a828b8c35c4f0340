use serde_json::json;

use super::*;

/// A Ready worker labelled schedulable by virt-handler, its hostname label differing from
/// its name as on clusters whose nodes are named by FQDN.
fn worker(name: &str) -> Value {
    json!({"metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": format!("{name}-host"),
            "node-role.kubernetes.io/worker": "", "kubevirt.io/schedulable": "true"}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})
}

fn control_plane(name: &str, also_worker: bool) -> Value {
    let mut node = worker(name);
    let labels = &mut node["metadata"]["labels"];
    labels["node-role.kubernetes.io/control-plane"] = json!("");
    if !also_worker {
        labels.as_object_mut().unwrap().remove(WORKER);
    }
    node
}

fn reasons(selection: &NodeSelection, name: &str) -> Vec<Exclusion> {
    selection
        .excluded
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.why.clone())
        .unwrap_or_default()
}

#[test]
fn every_kind_of_unusable_node_is_excluded_with_its_reason() {
    let mut infra = worker("infra-0");
    infra["metadata"]["labels"]["node-role.kubernetes.io/infra"] = json!("");
    infra["spec"]["taints"] = json!([
        {"key": "node-role.kubernetes.io/infra", "value": "reserved", "effect": "NoSchedule"},
        {"key": "example.com/soft", "effect": "PreferNoSchedule"}]);
    let mut down = worker("worker-3");
    down["status"]["conditions"][0] = json!({"type": "Ready", "status": "Unknown",
        "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."});
    let mut stale = worker("stale-handler");
    stale["metadata"]["labels"]["kubevirt.io/schedulable"] = json!("false");
    let mut no_handler = worker("no-handler");
    no_handler["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("kubevirt.io/schedulable");
    let mut cordoned = worker("cordoned");
    cordoned["spec"]["unschedulable"] = json!(true);
    let mut not_worker = worker("storage-0");
    not_worker["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove(WORKER);
    let mut soft = worker("soft");
    soft["spec"]["taints"] = json!([{"key": "example.com/soft", "effect": "PreferNoSchedule"}]);
    let nodes = [
        worker("worker-0"),
        control_plane("master-0", true),
        infra,
        down,
        stale,
        no_handler,
        cordoned,
        not_worker,
        soft,
    ];
    let s = NodeSelection::classify(&nodes);

    assert_eq!(s.names(), ["worker-0", "soft"]);
    assert_eq!(s.usable[0].hostname, "worker-0-host");
    assert_eq!(reasons(&s, "master-0"), [Exclusion::ControlPlane]);
    assert_eq!(
        reasons(&s, "infra-0"),
        [Exclusion::Tainted(vec![
            "node-role.kubernetes.io/infra=reserved:NoSchedule".into()
        ])]
    );
    assert_eq!(
        reasons(&s, "worker-3"),
        [Exclusion::NotReady(
            "Unknown".into(),
            "NodeStatusUnknown".into(),
            "Kubelet stopped posting node status.".into()
        )]
    );
    assert_eq!(
        reasons(&s, "stale-handler"),
        [Exclusion::NotVirtSchedulable(Some("false".into()))]
    );
    assert_eq!(
        reasons(&s, "no-handler"),
        [Exclusion::NotVirtSchedulable(None)]
    );
    assert_eq!(reasons(&s, "cordoned"), [Exclusion::Cordoned]);
    assert_eq!(reasons(&s, "storage-0"), [Exclusion::NotWorker]);
}

#[test]
fn in_a_compact_cluster_the_control_planes_are_the_workers() {
    let nodes = [
        control_plane("master-0", true),
        control_plane("master-1", true),
        control_plane("master-2", false),
    ];
    let s = NodeSelection::classify(&nodes);
    assert_eq!(s.names(), ["master-0", "master-1"]);
    assert_eq!(reasons(&s, "master-2"), [Exclusion::NotWorker]);
}

#[test]
fn a_node_without_the_nic_is_excluded_and_too_few_nodes_say_why() {
    let nodes = [worker("worker-0"), worker("worker-4")];
    let state = |node: &str, nics: &[&str]| {
        let interfaces: Vec<Value> = nics
            .iter()
            .map(|n| json!({"name": n, "type": "ethernet"}))
            .collect();
        json!({"metadata": {"name": node}, "status": {"currentState": {"interfaces": interfaces}}})
    };
    let states = [
        state("worker-0", &["eth0", "eth1"]),
        state("worker-4", &["eth0"]),
    ];
    let s = NodeSelection::classify(&nodes).with_nic(&states, "eth1", &[]);
    assert_eq!(s.names(), ["worker-0"]);
    assert_eq!(reasons(&s, "worker-4"), [Exclusion::NoNic("eth1".into())]);
    let err = s.at_least(2, "a bridge on eth1").unwrap_err().to_string();
    assert_eq!(
        err,
        "a bridge on eth1 needs 2 usable node(s), found 1 [\"worker-0\"]; \
         excluded: worker-4: no NIC eth1 in its NodeNetworkState"
    );
    assert!(s.at_least(1, "a bridge").is_ok());
}

#[test]
fn a_node_whose_nic_is_unsafe_is_excluded_naming_the_nic_and_the_hazard() {
    let mut worker_5 = worker("worker-5");
    worker_5["status"]["addresses"] = json!([{"type": "InternalIP", "address": "192.168.111.35"}]);
    let nodes = [worker("worker-0"), worker_5];
    let states = [
        json!({"metadata": {"name": "worker-0"}, "status": {"currentState": {"interfaces": [
            {"name": "eth1", "type": "ethernet", "state": "up"}]}}}),
        json!({"metadata": {"name": "worker-5"}, "status": {"currentState": {"interfaces": [
            {"name": "eth1", "type": "ethernet", "state": "down",
             "ipv4": {"enabled": true, "address": [{"ip": "192.168.111.35", "prefix-length": 24}]}}]}}}),
    ];
    let s = NodeSelection::classify(&nodes).with_nic(&states, "eth1", &[]);
    assert_eq!(s.names(), ["worker-0"]);
    let err = s.at_least(2, "a bridge on eth1").unwrap_err().to_string();
    assert!(
        err.ends_with(
            "excluded: worker-5: NIC eth1 carries the node's IP 192.168.111.35 and has its link down (state: down)"
        ),
        "{err}"
    );
}

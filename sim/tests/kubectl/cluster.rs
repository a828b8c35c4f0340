//! Discovery, apply/patch/delete, cordon and drain, an NNCP to Available.

use serde_json::json;
use vstp_sim::kinds;
use vstp_sim::store::Scope;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_resources_lists_kubevirt_nmstate_and_network_kinds() {
    let (sim, _) = common::start().await;
    let kc = Kubeconfig::write(&sim, "api-resources");
    let out = kubectl(&kc, &["api-resources"]).await;
    for (name, short) in [
        ("virtualmachines", "vm,vms"),
        ("virtualmachineinstances", "vmi,vmis"),
        ("virtualmachineinstancemigrations", "vmim,vmims"),
        ("nodenetworkconfigurationpolicies", "nncp"),
        ("network-attachment-definitions", "net-attach-def"),
        ("userdefinednetworks", "udn"),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{out}"));
        assert!(line.contains(short), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_twice_get_patch_and_delete() {
    let (sim, _) = common::start().await;
    let kc = Kubeconfig::write(&sim, "apply");
    assert!(kubectl_stdin(&kc, &["apply", "-f", "-"], Some(VM))
        .await
        .contains("created"));
    let changed = VM.replace("Halted", "Always");
    assert!(kubectl_stdin(&kc, &["apply", "-f", "-"], Some(&changed))
        .await
        .contains("configured"));
    let yaml = kubectl(&kc, &["get", "vm", "vm1", "-o", "yaml"]).await;
    assert!(
        yaml.contains("runStrategy: Always") && yaml.contains("last-applied-configuration"),
        "{yaml}"
    );
    assert!(kubectl(&kc, &["get", "vms"]).await.contains("vm1"));

    kubectl(
        &kc,
        &[
            "patch",
            "vm",
            "vm1",
            "--type=merge",
            "-p",
            r#"{"spec":{"runStrategy":"Manual"}}"#,
        ],
    )
    .await;
    let ops = r#"[{"op":"test","path":"/spec/runStrategy","value":"Manual"},{"op":"replace","path":"/spec/runStrategy","value":"Halted"}]"#;
    kubectl(&kc, &["patch", "vm", "vm1", "--type=json", "-p", ops]).await;
    let strategy = kubectl(
        &kc,
        &["get", "vm", "vm1", "-o", "jsonpath={.spec.runStrategy}"],
    )
    .await;
    assert_eq!(strategy, "Halted");

    kubectl(&kc, &["delete", "vm", "vm1"]).await;
    assert!(sim
        .store()
        .get(
            kinds::find("kubevirt.io", "v1", "virtualmachines").unwrap(),
            "default",
            "vm1"
        )
        .is_none());
}

async fn unschedulable(kc: &Kubeconfig) -> String {
    let jsonpath = "jsonpath={.spec.unschedulable}";
    kubectl(kc, &["get", "node", "worker-0", "-o", jsonpath]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_and_drain_a_node_with_evictable_pods() {
    let (sim, _) = common::start().await;
    let kc = Kubeconfig::write(&sim, "drain");
    let store = sim.store();
    let node = json!({"metadata": {"name": "worker-0"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    store.create(kinds::NODES, node, Scope::All, false).unwrap();
    let owner = json!([{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "name": "vm1", "uid": "d7c1e4a0-0000-4000-8000-000000000001", "controller": true}]);
    for name in ["virt-launcher-vm1-abcde", "virt-launcher-vm2-fghij"] {
        let pod = json!({"metadata": {"name": name, "namespace": "default", "ownerReferences": owner},
            "spec": {"nodeName": "worker-0", "containers": [{"name": "compute"}]}, "status": {"phase": "Running"}});
        store.create(kinds::PODS, pod, Scope::All, false).unwrap();
    }
    kubectl(&kc, &["cordon", "worker-0"]).await;
    assert_eq!(unschedulable(&kc).await, "true");
    let out = kubectl(
        &kc,
        &["drain", "worker-0", "--ignore-daemonsets", "--timeout=30s"],
    )
    .await;
    assert!(out.contains("drained"), "{out}");
    let (left, _) = store.list(kinds::PODS, None, &Default::default());
    assert!(left.is_empty(), "evicted pods are gone: {left:?}");
    kubectl(&kc, &["uncordon", "worker-0"]).await;
    assert_eq!(unschedulable(&kc).await, "");
}

/// The drain a QE engineer runs by hand (the upstream functional tests' flags): it finishes
/// only after every VM on the node was live-migrated away and its launcher pod Succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_a_worker_live_migrates_every_vm_on_it() {
    let (sim, _) = common::start_with(
        vstp_sim::SimConfig::cluster(vstp_sim::world::nodes::ClusterSpec::tidy()).unwrap(),
    )
    .await;
    let kc = Kubeconfig::write(&sim, "drain-vms");
    for name in ["vm-a", "vm-b"] {
        kubectl_stdin(
            &kc,
            &["apply", "-f", "-"],
            Some(&RUNNING_VM.replace("NAME", name)),
        )
        .await;
    }
    for name in ["vm-a", "vm-b"] {
        let vmi = format!("vmi/{name}");
        kubectl(
            &kc,
            &[
                "wait",
                "--for=condition=AgentConnected",
                &vmi,
                "--timeout=60s",
            ],
        )
        .await;
    }
    let node = jsonpath(&kc, &["vmi", "vm-a"], "{.status.nodeName}").await;
    let uid = jsonpath(&kc, &["vmi", "vm-a"], "{.metadata.uid}").await;
    let on_node = |nodes: &str| nodes.split_whitespace().filter(|n| *n == node).count();
    let before = jsonpath(&kc, &["vmi"], "{.items[*].status.nodeName}").await;
    assert!(on_node(&before) >= 1, "vm-a runs on {node}: {before}");

    let out = kubectl(
        &kc,
        &[
            "drain",
            &node,
            "--delete-emptydir-data",
            "--pod-selector",
            "kubevirt.io=virt-launcher",
            "--ignore-daemonsets=true",
            "--force",
            "--timeout=180s",
        ],
    )
    .await;
    assert!(out.contains("drained"), "{out}");

    let after = jsonpath(&kc, &["vmi"], "{.items[*].status.nodeName}").await;
    assert_eq!(on_node(&after), 0, "no VMI is left on {node}: {after}");
    assert_eq!(
        jsonpath(&kc, &["vmi", "vm-a"], "{.metadata.uid}").await,
        uid,
        "vm-a was migrated, not restarted"
    );
    let migrations = jsonpath(
        &kc,
        &["vmim"],
        "{range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}",
    )
    .await;
    let evacuations: Vec<&str> = migrations
        .lines()
        .filter(|l| l.starts_with("kubevirt-evacuation-"))
        .collect();
    assert_eq!(
        evacuations.len(),
        on_node(&before),
        "one evacuation per VMI on the node: {migrations}"
    );
    assert!(
        evacuations.iter().all(|l| l.ends_with(" Succeeded")),
        "{migrations}"
    );
    // kubevirt v1.9.0 crds.go `NewVirtualMachineInstanceMigrationCrd`: Phase and VMI, no Age.
    let printed = kubectl(&kc, &["get", "vmim"]).await;
    let name = evacuations[0].split(' ').next().unwrap();
    let (header, row) = table_lines(&printed, name);
    assert_eq!(header, ["NAME", "PHASE", "VMI"]);
    assert_eq!(row[1], "Succeeded", "{printed}");
    assert_eq!(
        jsonpath(&kc, &["node", &node], "{.spec.unschedulable}").await,
        "true"
    );
    kubectl(&kc, &["uncordon", &node]).await;
}

/// What a QE engineer does to provision a bridge: apply the policy, wait for Available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_a_policy_and_wait_for_it_to_become_available() {
    let (sim, _) = common::start_with(
        vstp_sim::SimConfig::cluster(vstp_sim::world::nodes::ClusterSpec::tidy()).unwrap(),
    )
    .await;
    let kc = Kubeconfig::write(&sim, "nncp");
    kubectl_stdin(&kc, &["apply", "-f", "-"], Some(TRUNK_POLICY)).await;
    let out = kubectl(
        &kc,
        &[
            "wait",
            "nncp/br1-eth1-trunk",
            "--for=condition=Available",
            "--timeout=60s",
        ],
    )
    .await;
    assert!(out.contains("condition met"), "{out}");
    let enactments = kubectl(
        &kc,
        &[
            "get",
            "nnce",
            "-l",
            "nmstate.io/policy=br1-eth1-trunk",
            "-o",
            "name",
        ],
    )
    .await;
    assert_eq!(enactments.lines().count(), 3, "{enactments}");
    let ports = kubectl(
        &kc,
        &[
            "get",
            "nns",
            "worker-0",
            "-o",
            "jsonpath={.status.currentState.interfaces[?(@.name==\"br1\")].bridge.port[*].name}",
        ],
    )
    .await;
    assert_eq!(ports, "eth1");
}

//! The real kubectl against vstp-sim: discovery, get, apply, patch, wait, delete, cordon, drain.
//! kubectl must be installed (`bash ci/setup.sh` installs Debian's kubernetes-client); a
//! missing kubectl fails these tests rather than skipping them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;
use vstp_sim::kinds;
use vstp_sim::store::Scope;
use vstp_sim::SimHandle;

/// A kubeconfig file for one test, removed when the test ends.
struct Kubeconfig(PathBuf);

impl Kubeconfig {
    fn write(sim: &SimHandle, test: &str) -> Kubeconfig {
        let path = std::env::temp_dir().join(format!(
            "vstp-kubectl-{}-{test}.kubeconfig",
            std::process::id()
        ));
        std::fs::write(&path, sim.kubeconfig()).unwrap();
        Kubeconfig(path)
    }
}

impl Drop for Kubeconfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn command(kubeconfig: &Path, args: &[String], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run kubectl ({e}); `bash ci/setup.sh` installs it (Debian package kubernetes-client)"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs kubectl off the runtime's threads (the simulator serves on them).
async fn spawn_kubectl(kc: &Kubeconfig, args: &[&str], stdin: Option<&str>) -> Output {
    let path = kc.0.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.unwrap_or_default().to_string();
    tokio::task::spawn_blocking(move || command(&path, &args, &stdin))
        .await
        .unwrap()
}

/// Runs kubectl; panics with its output unless it succeeds.
async fn kubectl(kc: &Kubeconfig, args: &[&str]) -> String {
    kubectl_stdin(kc, args, None).await
}

async fn kubectl_stdin(kc: &Kubeconfig, args: &[&str], stdin: Option<&str>) -> String {
    let out = spawn_kubectl(kc, args, stdin).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

const VM: &str = "apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: vm1
spec:
  runStrategy: Halted
  template:
    spec:
      domain:
        devices: {}
";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_a_condition_and_for_a_namespace_to_go() {
    let (sim, _) = common::start().await;
    let kc = Kubeconfig::write(&sim, "wait");
    let store = sim.store().clone();
    let pod = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}});
    store.create(kinds::PODS, pod, Scope::All, false).unwrap();
    let wait = ["wait", "--for=condition=Ready", "pod/p", "--timeout=20s"];
    let waiter = spawn_kubectl(&kc, &wait, None);
    tokio::pin!(waiter);
    // Start kubectl (its get and watch) before the condition flips; either order must pass.
    let _started = futures::poll!(&mut waiter);
    store
        .modify(kinds::PODS, "default", "p", Scope::Status, false, |p| {
            let mut p = p.clone();
            p["status"]["conditions"][0]["status"] = json!("True");
            Ok(p)
        })
        .unwrap();
    let out = waiter.await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("condition met"));

    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: doomed\n";
    kubectl_stdin(&kc, &["apply", "-f", "-"], Some(ns)).await;
    kubectl_stdin(&kc, &["apply", "-n", "doomed", "-f", "-"], Some(VM)).await;
    kubectl(&kc, &["delete", "namespace", "doomed", "--wait=false"]).await;
    kubectl(
        &kc,
        &["wait", "--for=delete", "namespace/doomed", "--timeout=20s"],
    )
    .await;
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

const RUNNING_VM: &str = "apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: NAME
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        memory: {guest: 1Gi}
        devices: {}
";

async fn jsonpath(kc: &Kubeconfig, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let output = format!("jsonpath={path}");
    args.extend_from_slice(&["-o", &output]);
    kubectl(kc, &args).await
}

/// The drain a QE engineer runs by hand (the upstream functional tests' flags): it finishes
/// only after every VM on the node was live-migrated away and its launcher pod Succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_a_worker_live_migrates_every_vm_on_it() {
    let (sim, _) =
        common::start_with(vstp_sim::SimConfig::cluster(Default::default()).unwrap()).await;
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

const TRUNK_POLICY: &str = "apiVersion: nmstate.io/v1
kind: NodeNetworkConfigurationPolicy
metadata:
  name: br1-eth1-trunk
spec:
  nodeSelector:
    node-role.kubernetes.io/worker: \"\"
  maxUnavailable: 50%
  desiredState:
    interfaces:
    - name: br1
      type: linux-bridge
      state: up
      ipv4: {enabled: false}
      bridge:
        options: {stp: {enabled: false}}
        port:
        - name: eth1
          vlan:
            mode: trunk
            trunk-tags:
            - id: 10
            - id-range: {min: 20, max: 30}
";

/// What a QE engineer does to provision a bridge: apply the policy, wait for Available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_a_policy_and_wait_for_it_to_become_available() {
    let (sim, _) =
        common::start_with(vstp_sim::SimConfig::cluster(Default::default()).unwrap()).await;
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

/// kubectl wait reads `.status.conditions` with `unstructured.NestedSlice` (kubectl v1.32
/// pkg/cmd/wait/condition.go `ConditionalWait.checkCondition`), which fails on a `null` and
/// returns "not found" on an absent field; kube-apiserver never sends the `null` because Go
/// omits the `omitempty` slice (kubevirt v1.9.0 staging/src/kubevirt.io/api/core/v1/types.go
/// `VirtualMachineInstanceStatus.Conditions`). Started while the VMI is still Scheduled, the
/// wait lasts until the guest agent connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_the_guest_agent_from_the_moment_the_vmi_is_scheduled() {
    // Modelled time runs at 2×: the VMI stays Scheduled for a real second, long enough for
    // kubectl to read it in that phase.
    let config = vstp_sim::SimConfig {
        time_scale: 2.0,
        ..vstp_sim::SimConfig::cluster(Default::default()).unwrap()
    };
    let (sim, client) = common::start_with(config).await;
    let kc = Kubeconfig::write(&sim, "wait-agent");
    kubectl_stdin(
        &kc,
        &["apply", "-f", "-"],
        Some(&RUNNING_VM.replace("NAME", "vm-w")),
    )
    .await;
    let vmis = common::virt::vmis(&client);
    common::virt::until(&vmis, "vm-w", "Scheduled", |v| {
        v["status"]["phase"] == "Scheduled"
    })
    .await;
    let wait = [
        "wait",
        "--for=condition=AgentConnected",
        "vmi/vm-w",
        "--timeout=60s",
    ];
    let out = kubectl(&kc, &wait).await;
    assert!(out.contains("condition met"), "{out}");
    let vmi = vmis.get("vm-w").await.unwrap();
    assert_eq!(
        common::virt::cond(&common::virt::value(&vmi), "AgentConnected").as_deref(),
        Some("True")
    );
}

/// The header line of a kubectl table and the line starting with `name`, split into cells on
/// runs of two or more spaces (kubectl pads columns with at least three).
fn table_lines(out: &str, name: &str) -> (Vec<String>, Vec<String>) {
    let cells = |line: &str| -> Vec<String> {
        line.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    let header = out.lines().next().unwrap_or_default();
    let row = out
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no row {name}:\n{out}"));
    (cells(header), cells(row))
}

/// `kubectl get` prints the columns kube-apiserver's Table carries: the CRDs'
/// additionalPrinterColumns (kubevirt v1.9.0 pkg/virt-operator/resource/generate/components/
/// crds.go `NewVirtualMachineInstanceCrd`, `NewVirtualMachineCrd`; kubernetes-nmstate
/// api/v1/nodenetworkconfigurationpolicy_types.go and api/v1beta1/
/// nodenetworkconfigurationenactment_types.go printcolumn markers) evaluated by
/// apiextensions-apiserver tableconvertor.go `convertor.ConvertToTable`, and the built-in
/// printers of kubernetes v1.32 pkg/printers/internalversion/printers.go (`printPod`,
/// `printNode`), with the priority-1 columns under `-o wide`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_prints_the_columns_each_kind_declares() {
    let (sim, _) =
        common::start_with(vstp_sim::SimConfig::cluster(Default::default()).unwrap()).await;
    let kc = Kubeconfig::write(&sim, "columns");
    let vm = RUNNING_VM.replace("NAME", "vm-t");
    kubectl_stdin(&kc, &["apply", "-f", "-"], Some(&vm)).await;
    kubectl_stdin(&kc, &["apply", "-f", "-"], Some(TRUNK_POLICY)).await;
    let agent = [
        "wait",
        "--for=condition=AgentConnected",
        "vmi/vm-t",
        "--timeout=60s",
    ];
    kubectl(&kc, &agent).await;
    let available = [
        "wait",
        "nncp/br1-eth1-trunk",
        "--for=condition=Available",
        "--timeout=60s",
    ];
    kubectl(&kc, &available).await;
    let node = jsonpath(&kc, &["vmi", "vm-t"], "{.status.nodeName}").await;
    let ip = jsonpath(&kc, &["vmi", "vm-t"], "{.status.interfaces[0].ipAddress}").await;

    let (header, row) = table_lines(
        &kubectl(&kc, &["get", "vmi", "vm-t", "-o", "wide"]).await,
        "vm-t",
    );
    assert_eq!(
        header,
        [
            "NAME",
            "AGE",
            "PHASE",
            "IP",
            "NODENAME",
            "READY",
            "LIVE-MIGRATABLE",
            "PAUSED"
        ]
    );
    assert_eq!(
        row[2..],
        ["Running", ip.as_str(), node.as_str(), "True", "True"]
    );
    let (header, row) = table_lines(&kubectl(&kc, &["get", "vm"]).await, "vm-t");
    assert_eq!(
        (header, &row[2..]),
        (
            vec![
                "NAME".to_string(),
                "AGE".into(),
                "STATUS".into(),
                "READY".into()
            ],
            &["Running".to_string(), "True".into()][..]
        )
    );

    let pods = kubectl(&kc, &["get", "pods", "-o", "wide"]).await;
    let (header, row) = table_lines(&pods, "virt-launcher-vm-t-");
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
    assert_eq!(
        (&row[2], &row[3], &row[6], &row[7]),
        (
            &"Running".to_string(),
            &"0".to_string(),
            &node,
            &"<none>".to_string()
        )
    );
    let (header, row) = table_lines(&kubectl(&kc, &["get", "nodes"]).await, &node);
    assert_eq!(header, ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    assert_eq!(
        (&row[1], &row[2]),
        (&"Ready".to_string(), &"worker".to_string())
    );

    let (header, row) = table_lines(&kubectl(&kc, &["get", "nncp"]).await, "br1-eth1-trunk");
    assert_eq!(header, ["NAME", "STATUS", "REASON"]);
    assert_eq!(row[1..], ["Available", "SuccessfullyConfigured"]);
    let enactment = format!("{node}.br1-eth1-trunk");
    let (header, row) = table_lines(&kubectl(&kc, &["get", "nnce"]).await, &enactment);
    assert_eq!(header, ["NAME", "STATUS", "STATUS AGE", "REASON"]);
    assert_eq!(
        (&row[1], &row[3]),
        (
            &"Available".to_string(),
            &"SuccessfullyConfigured".to_string()
        )
    );

    let all = kubectl(&kc, &["get", "vm,vmi,vmim,nodes,pods,nncp,nnce"]).await;
    assert!(
        all.contains("virtualmachineinstance.kubevirt.io/vm-t"),
        "{all}"
    );
    assert!(
        all.lines().any(|l| l
            .split_whitespace()
            .eq(["NAME", "AGE", "PHASE", "IP", "NODENAME", "READY"])),
        "{all}"
    );
}

/// `kubectl get -w` asks for Tables in the watch too; each event is a one-row Table and only
/// the first carries the columns (k8s.io/apiserver pkg/endpoints/handlers/watch.go
/// `watchEmbeddedEncoder`, kubectl's tableprinter reuses the last columns it saw).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_prints_a_row_per_change_under_one_header() {
    let (sim, _) =
        common::start_with(vstp_sim::SimConfig::cluster(Default::default()).unwrap()).await;
    let kc = Kubeconfig::write(&sim, "get-watch");
    // The watch ends by itself (--request-timeout, well after the boot); whether kubectl lists
    // before or after the VM starts, it prints the VMI once it runs.
    let watch = ["get", "vmi", "-w", "--request-timeout=5s"];
    let watcher = spawn_kubectl(&kc, &watch, None);
    tokio::pin!(watcher);
    let _started = futures::poll!(&mut watcher);
    kubectl_stdin(
        &kc,
        &["apply", "-f", "-"],
        Some(&RUNNING_VM.replace("NAME", "vm-w")),
    )
    .await;
    let out = String::from_utf8_lossy(&watcher.await.stdout).to_string();
    let headers = out.lines().filter(|l| l.starts_with("NAME ")).count();
    assert_eq!(headers, 1, "{out}");
    assert!(out.lines().skip(1).all(|l| l.starts_with("vm-w ")), "{out}");
    let running = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>());
    assert!(
        running
            .clone()
            .any(|cells| cells.get(2) == Some(&"Running") && cells.last() == Some(&"True")),
        "{out}"
    );
}

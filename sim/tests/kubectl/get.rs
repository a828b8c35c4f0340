//! `kubectl get` with the server-side Table columns each kind declares.

use super::*;

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
    let (sim, _) = common::start_with(
        vstp_sim::SimConfig::cluster(vstp_sim::world::nodes::ClusterSpec::tidy()).unwrap(),
    )
    .await;
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
    let (sim, _) = common::start_with(
        vstp_sim::SimConfig::cluster(vstp_sim::world::nodes::ClusterSpec::tidy()).unwrap(),
    )
    .await;
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

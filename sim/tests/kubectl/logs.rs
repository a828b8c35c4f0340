//! `kubectl logs` of virt-launcher pods.

use super::*;

const MIGRATION: &str = "apiVersion: kubevirt.io/v1
kind: VirtualMachineInstanceMigration
metadata:
  name: NAME-migration
spec:
  vmiName: NAME
";

/// The `msg` of each JSON line of a virt-launcher log.
fn messages(log: &str) -> Vec<String> {
    log.lines()
        .map(|l| {
            let line: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a virt-launcher log line is JSON ({e}): {l}"));
            line["msg"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// `kubectl logs` of a launcher pod reads what virt-launcher logged for its VMI (kubevirt
/// v1.9.0 client-go log/log.go JSON lines): the domain it started, here for an image whose OS
/// the simulator cannot place (it says so), then, followed with `-f`, the live migration it
/// was the source of, until the pod finishes. PodLogOptions as kubernetes v1.32
/// pkg/registry/core/pod/rest/log.go `LogREST.Get` and the kubelet handle them: `--tail`,
/// `--timestamps`, and `--previous` refused when no container restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_launcher_pod_follow_its_vmi() {
    let (sim, _) = common::start_with(
        vstp_sim::SimConfig::cluster(vstp_sim::world::nodes::ClusterSpec::tidy()).unwrap(),
    )
    .await;
    let kc = Kubeconfig::write(&sim, "logs");
    let image = "quay.io/example/appliance:1.0";
    let vm = RUNNING_VM.replace("NAME", "vm-l").replace(
        "devices: {}",
        &format!("devices: {{disks: [{{name: root, disk: {{}}}}]}}\n      volumes: [{{name: root, containerDisk: {{image: {image}}}}}]"),
    );
    kubectl_stdin(&kc, &["apply", "-f", "-"], Some(&vm)).await;
    let agent = [
        "wait",
        "--for=condition=AgentConnected",
        "vmi/vm-l",
        "--timeout=60s",
    ];
    kubectl(&kc, &agent).await;
    let pod = jsonpath(
        &kc,
        &["pods", "-l", "vm.kubevirt.io/name=vm-l"],
        "{.items[0].metadata.name}",
    )
    .await;

    let log = kubectl(&kc, &["logs", &pod]).await;
    let msgs = messages(&log);
    assert_eq!(
        msgs.last().map(String::as_str),
        Some("Domain started."),
        "{log}"
    );
    let note = msgs
        .iter()
        .find(|m| m.contains(image))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(note.contains("Red Hat Enterprise Linux 9.6"), "{note}");
    let last = kubectl(&kc, &["logs", &pod, "--tail=1", "--timestamps"]).await;
    let (at, line) = last.trim_end().split_once(' ').unwrap();
    assert_eq!(
        format!("{line}\n"),
        log.lines().last().unwrap().to_string() + "\n"
    );
    assert!(at.ends_with('Z') && at.contains('.'), "{at}");
    let previous = spawn_kubectl(&kc, &["logs", &pod, "--previous"], None).await;
    let refused = String::from_utf8_lossy(&previous.stderr);
    assert!(
        !previous.status.success() && refused.contains("previous terminated container \"compute\""),
        "{refused}"
    );

    let follow = ["logs", "-f", pod.as_str()];
    let follower = spawn_kubectl(&kc, &follow, None);
    tokio::pin!(follower);
    let _started = futures::poll!(&mut follower);
    kubectl_stdin(
        &kc,
        &["apply", "-f", "-"],
        Some(&MIGRATION.replace("NAME", "vm-l")),
    )
    .await;
    // The stream ends by itself when the source pod finishes after the migration.
    let out = follower.await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs = messages(&String::from_utf8_lossy(&out.stdout));
    let at = |m: &str| {
        msgs.iter()
            .position(|x| x == m)
            .unwrap_or_else(|| panic!("{m} missing: {msgs:?}"))
    };
    assert!(at("Domain started.") < at("Initiating live migration."));
    assert!(at("Initiating live migration.") < at("Live migration succeeded."));
}

/// Applies `vm` (named `name`) and returns its launcher pod once the guest agent is up.
async fn launcher_of(kc: &Kubeconfig, name: &str, vm: &str) -> String {
    kubectl_stdin(kc, &["apply", "-f", "-"], Some(vm)).await;
    let vmi = format!("vmi/{name}");
    let agent = [
        "wait",
        "--for=condition=AgentConnected",
        &vmi,
        "--timeout=60s",
    ];
    kubectl(kc, &agent).await;
    let selector = format!("vm.kubevirt.io/name={name}");
    jsonpath(kc, &["pods", "-l", &selector], "{.items[0].metadata.name}").await
}

/// KubeVirt's serial console log (kubevirt v1.9.0 serialconsolelog.go): a launcher pod has
/// the `guest-console-log` native sidecar, and its log is what the guest printed on its serial
/// port with nobody attached (here the emulated guest's getty banner and login prompt), kept
/// by a migration's source once the guest has left. The KubeVirt CR's
/// `virtualMachineOptions.disableSerialConsoleLog` turns it off for new launchers, and a
/// VMI's `logSerialConsole: true` turns it back on for that VMI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guest_console_log_container_streams_what_the_serial_console_printed() {
    let (sim, _) = common::start_with(
        vstp_sim::SimConfig::cluster(vstp_sim::world::nodes::ClusterSpec::tidy()).unwrap(),
    )
    .await;
    let kc = Kubeconfig::write(&sim, "serial-log");
    let pod = launcher_of(&kc, "vm-s", &RUNNING_VM.replace("NAME", "vm-s")).await;
    let sidecar = jsonpath(
        &kc,
        &["pod", &pod],
        "{.spec.initContainers[0].name} {.spec.initContainers[0].restartPolicy}",
    )
    .await;
    assert_eq!(sidecar, "guest-console-log Always");
    let log = kubectl(&kc, &["logs", &pod, "-c", "guest-console-log"]).await;
    assert!(
        log.contains("Red Hat Enterprise Linux") && log.trim_end().ends_with("login:"),
        "{log}"
    );
    // A migration's source keeps what it logged once it has finished; the target logs only
    // what the guest prints after it arrived (an idle getty prints nothing).
    let migration = MIGRATION.replace("NAME", "vm-s");
    kubectl_stdin(&kc, &["apply", "-f", "-"], Some(&migration)).await;
    let finished = [
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        &format!("pod/{pod}"),
        "--timeout=60s",
    ];
    kubectl(&kc, &finished).await;
    let left = kubectl(&kc, &["logs", &pod, "-c", "guest-console-log"]).await;
    assert_eq!(left, log);
    let on_target = [
        "pods",
        "-l",
        "vm.kubevirt.io/name=vm-s,kubevirt.io/migrationJobUID",
    ];
    let target = jsonpath(&kc, &on_target, "{.items[0].metadata.name}").await;
    let arrived = kubectl(&kc, &["logs", &target, "-c", "guest-console-log"]).await;
    assert_eq!(
        arrived, "",
        "the target {target} logged what the source printed"
    );

    let off =
        r#"{"spec":{"configuration":{"virtualMachineOptions":{"disableSerialConsoleLog":{}}}}}"#;
    let kv = [
        "patch",
        "kubevirt",
        "kubevirt-kubevirt-hyperconverged",
        "-n",
        "openshift-cnv",
        "--type=merge",
        "-p",
        off,
    ];
    kubectl(&kc, &kv).await;
    let quiet = launcher_of(&kc, "vm-q", &RUNNING_VM.replace("NAME", "vm-q")).await;
    let refused = spawn_kubectl(&kc, &["logs", &quiet, "-c", "guest-console-log"], None).await;
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr)
                .contains("container guest-console-log is not valid"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let asked = RUNNING_VM
        .replace("NAME", "vm-a")
        .replace("devices: {}", "devices: {logSerialConsole: true}");
    let logged = launcher_of(&kc, "vm-a", &asked).await;
    let log = kubectl(&kc, &["logs", &logged, "-c", "guest-console-log"]).await;
    assert!(log.contains("login:"), "{log}");
}

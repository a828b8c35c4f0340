//! The real kubectl against vstp-sim: discovery, get (server-side columns), apply, patch, wait,
//! delete, cordon, drain, logs. One module per area; the helpers are here.
//! kubectl must be installed (`bash ci/setup.sh` installs Debian's kubernetes-client); a
//! missing kubectl fails these tests rather than skipping them.

#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod get;
mod logs;
mod protobuf;
mod wait;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vstp_sim::SimHandle;

/// A kubeconfig file for one test, removed when the test ends.
pub(crate) struct Kubeconfig(PathBuf);

impl Kubeconfig {
    pub(crate) fn write(sim: &SimHandle, test: &str) -> Kubeconfig {
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
pub(crate) async fn spawn_kubectl(kc: &Kubeconfig, args: &[&str], stdin: Option<&str>) -> Output {
    let path = kc.0.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.unwrap_or_default().to_string();
    tokio::task::spawn_blocking(move || command(&path, &args, &stdin))
        .await
        .unwrap()
}

/// Runs kubectl; panics with its output unless it succeeds.
pub(crate) async fn kubectl(kc: &Kubeconfig, args: &[&str]) -> String {
    kubectl_stdin(kc, args, None).await
}

pub(crate) async fn kubectl_stdin(kc: &Kubeconfig, args: &[&str], stdin: Option<&str>) -> String {
    let out = spawn_kubectl(kc, args, stdin).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

pub(crate) const VM: &str = "apiVersion: kubevirt.io/v1
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

pub(crate) const RUNNING_VM: &str = "apiVersion: kubevirt.io/v1
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

pub(crate) async fn jsonpath(kc: &Kubeconfig, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let output = format!("jsonpath={path}");
    args.extend_from_slice(&["-o", &output]);
    kubectl(kc, &args).await
}

pub(crate) const TRUNK_POLICY: &str = "apiVersion: nmstate.io/v1
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

/// The header line of a kubectl table and the line starting with `name`, split into cells on
/// runs of two or more spaces (kubectl pads columns with at least three).
pub(crate) fn table_lines(out: &str, name: &str) -> (Vec<String>, Vec<String>) {
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

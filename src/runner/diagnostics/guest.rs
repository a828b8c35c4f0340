//! The launcher side of a failure: each virt-launcher pod's `compute` log, and what each
//! guest's serial console shows. A launcher with KubeVirt's `guest-console-log` container
//! (serial console logging, on unless the KubeVirt CR sets
//! `virtualMachineOptions.disableSerialConsoleLog` or the VMI `logSerialConsole: false`:
//! kubevirt pkg/virt-controller/services/serialconsolelog.go `isSerialConsoleLogEnabled`; an
//! init container that keeps running, template.go `renderLaunchManifest`) has the whole
//! console history in that container's log; otherwise the console is opened and
//! what it shows after a line feed is kept, bounded in size and time.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use serde_json::Value;

use super::folder::{Folder, FILE_CAP};
use crate::cluster::scope::Scope;
use crate::guest::console;

/// KubeVirt's container that tails the serial console's log file.
const CONSOLE_LOG_CONTAINER: &str = "guest-console-log";
/// How long the console is read at most, in real time on a cluster.
const CONSOLE_WINDOW: Duration = Duration::from_secs(5);

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or("")
}

fn is_launcher(pod: &Value) -> bool {
    pod["metadata"]["labels"]["kubevirt.io"] == "virt-launcher"
}

/// The log of `container` of `pod`, capped at the folder's file size.
async fn container_log(scope: &Scope, pod: &str, container: &str) -> kube::Result<String> {
    let pods: Api<Pod> = Api::namespaced(scope.client().clone(), scope.ns());
    let params = LogParams {
        container: Some(container.into()),
        limit_bytes: Some(FILE_CAP as i64),
        ..LogParams::default()
    };
    pods.logs(pod, &params).await
}

/// `launcher-<pod>.log`: the `compute` container's log of every virt-launcher pod.
pub async fn launcher_logs(scope: &Scope, pods: &[Value], folder: &mut Folder) {
    for pod in pods.iter().filter(|p| is_launcher(p)) {
        let pod = name(pod);
        match container_log(scope, pod, "compute").await {
            Ok(log) => folder.write(&format!("launcher-{pod}.log"), &log),
            Err(e) => folder.error(format!("log of {pod}/compute: {e}")),
        }
    }
}

/// `console-<vmi>.log` for every running VMI.
pub async fn serial_consoles(scope: &Scope, vmis: &[Value], pods: &[Value], folder: &mut Folder) {
    for vmi in vmis {
        let vmi_name = name(vmi);
        let phase = vmi["status"]["phase"].as_str().unwrap_or("unknown");
        if phase != "Running" {
            folder.error(format!(
                "console of {vmi_name}: not read, the VMI is {phase}"
            ));
            continue;
        }
        let file = format!("console-{vmi_name}.log");
        match console_log_pod(vmi, pods) {
            Some(pod) => match container_log(scope, pod, CONSOLE_LOG_CONTAINER).await {
                Ok(log) => folder.write(&file, &format!("# {pod}/{CONSOLE_LOG_CONTAINER}\n{log}")),
                Err(e) => folder.error(format!("log of {pod}/{CONSOLE_LOG_CONTAINER}: {e}")),
            },
            None => {
                let window = scope
                    .budgets
                    .window(CONSOLE_WINDOW)
                    .max(Duration::from_secs(1));
                let shown =
                    console::capture(scope.client(), scope.ns(), vmi_name, window, FILE_CAP).await;
                match shown {
                    Ok(text) => folder.write(
                        &file,
                        &format!(
                            "# the serial console after a line feed (at most {window:?})\n{text}"
                        ),
                    ),
                    Err(e) => folder.error(format!("console of {vmi_name}: {e}")),
                }
            }
        }
    }
}

/// The running launcher pod of `vmi` when it has the console log container.
fn console_log_pod<'a>(vmi: &Value, pods: &'a [Value]) -> Option<&'a str> {
    let uid = vmi["metadata"]["uid"].as_str()?;
    pods.iter()
        .filter(|p| is_launcher(p) && p["metadata"]["labels"]["kubevirt.io/created-by"] == uid)
        .filter(|p| p["status"]["phase"] == "Running")
        .find(|p| {
            // A native sidecar: an init container that keeps running.
            ["containers", "initContainers"].iter().any(|list| {
                p["spec"][list]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["name"] == CONSOLE_LOG_CONTAINER))
            })
        })
        .map(name)
}

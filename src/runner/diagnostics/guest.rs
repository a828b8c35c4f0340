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

/// What a Linux kernel prints first when it crashes, finds its own memory corrupted, or
/// finds a CPU stuck in the kernel (kernel/panic.c, arch/x86/mm/fault.c `show_fault_oops`,
/// arch/x86/kernel/dumpstack.c, lib/bug.c, lib/list_debug.c, mm/page_alloc.c `bad_page`,
/// kernel/watchdog.c `watchdog_timer_fn`).
const KERNEL_CRASH: [&str; 10] = [
    "Kernel panic - not syncing",
    "BUG: kernel NULL pointer dereference",
    "BUG: unable to handle page fault",
    "BUG: Bad page state",
    "kernel BUG at ",
    "general protection fault",
    "Oops: ",
    "list_add corruption",
    "list_del corruption",
    "BUG: soft lockup",
];

/// The first line of `log` that says its kernel crashed.
pub fn kernel_crash(log: &str) -> Option<&str> {
    log.lines()
        .find(|line| KERNEL_CRASH.iter().any(|sign| line.contains(sign)))
        .map(str::trim)
}

/// `console-<vmi>.log` for every running VMI; returns, for each guest whose kernel crashed,
/// its VMI and the line that says so.
pub async fn serial_consoles(
    scope: &Scope,
    vmis: &[Value],
    pods: &[Value],
    folder: &mut Folder,
) -> Vec<String> {
    let mut crashed = Vec::new();
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
                Ok(log) => {
                    if let Some(line) = kernel_crash(&log) {
                        crashed.push(format!("{vmi_name}: {line}"));
                    }
                    folder.write(&file, &format!("# {pod}/{CONSOLE_LOG_CONTAINER}\n{log}"));
                }
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
    crashed
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Serial logs of the lane's own guests: a kernel that found its LRU list corrupted after
    /// a migration, one that followed a NULL pointer, a panic asked for; and a healthy boot.
    #[test]
    fn a_kernel_crash_is_found_by_its_first_line() {
        let corrupted = "[   22.026020] list_add corruption. next->prev should be prev (ffff8b2f41116010), but was fffff82b8037a088. (next=fffff82b8037a048).\r\n[   22.027623] kernel BUG at lib/list_debug.c:27!\r\n";
        assert_eq!(
            kernel_crash(corrupted),
            Some("[   22.026020] list_add corruption. next->prev should be prev (ffff8b2f41116010), but was fffff82b8037a088. (next=fffff82b8037a048).")
        );
        let null = "dd: 1+0 records in\n[   18.673725] BUG: kernel NULL pointer dereference, address: 0000000000000000\n";
        assert_eq!(
            kernel_crash(null),
            Some("[   18.673725] BUG: kernel NULL pointer dereference, address: 0000000000000000")
        );
        let asked = "[   12.1] sysrq: Trigger a crash\n[   12.1] Kernel panic - not syncing: sysrq triggered crash\n";
        assert_eq!(
            kernel_crash(asked),
            Some("[   12.1] Kernel panic - not syncing: sysrq triggered crash")
        );
        let page = "[   24.505838] BUG: Bad page state in process dd  pfn:0e6a3\n";
        assert_eq!(
            kernel_crash(page),
            Some("[   24.505838] BUG: Bad page state in process dd  pfn:0e6a3")
        );
        let stuck = "[   49.379361] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [dd:186]\n";
        assert_eq!(
            kernel_crash(stuck),
            Some("[   49.379361] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [dd:186]")
        );
        let healthy = "[    1.2] virtio_net virtio0 eth0: renamed\nDebian GNU/Linux 12 vm ttyS0\n\nvm login: ";
        assert_eq!(kernel_crash(healthy), None);
    }
}

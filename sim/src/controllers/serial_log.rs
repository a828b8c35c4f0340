//! KubeVirt's serial console log: a launcher pod gets a `guest-console-log` container that
//! tails the log file virt-launcher writes of serial port 0, so `kubectl logs <pod> -c
//! guest-console-log` shows what the guest printed there, a kernel panic included, without
//! anyone having been attached to the console.
//!
//! On unless turned off (kubevirt v1.9.0 pkg/virt-controller/services/serialconsolelog.go
//! `isSerialConsoleLogEnabled`): no serial console (`autoattachSerialConsole: false`) means no
//! log; the VMI's `logSerialConsole` decides when set; otherwise the KubeVirt CR's
//! `virtualMachineOptions.disableSerialConsoleLog` being present turns it off
//! (pkg/virt-config `IsSerialConsoleLogDisabled`). HCO leaves it on by default. The container
//! is a native sidecar: an init container with `restartPolicy: Always` (template.go
//! `renderLaunchManifest`), reading `<private dir>/<vmi uid>/virt-serial0-log`.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::launcher::LAUNCHER_IMAGE;
use super::Ctx;
use crate::guest;
use crate::kinds;
use crate::obj;

pub const CONTAINER: &str = "guest-console-log";

/// virt-launcher's private directory (pkg/util `VirtPrivateDir`).
const PRIVATE_DIR: &str = "/var/run/kubevirt-private";

/// Whether `vmi`'s launcher logs its serial console, given the cluster's KubeVirt CRs.
pub fn enabled(vmi: &Value, kubevirt_crs: &[Arc<Value>]) -> bool {
    let devices = &vmi["spec"]["domain"]["devices"];
    if devices["autoattachSerialConsole"] == false {
        return false;
    }
    if let Some(asked) = devices["logSerialConsole"].as_bool() {
        return asked;
    }
    !kubevirt_crs.iter().any(|cr| {
        !cr["spec"]["configuration"]["virtualMachineOptions"]["disableSerialConsoleLog"].is_null()
    })
}

/// Adds the `guest-console-log` sidecar to launcher `pod` when `vmi` logs its console.
pub fn add_sidecar(ctx: &Ctx, vmi: &Value, pod: &mut Value) {
    if !enabled(vmi, &ctx.list(kinds::KUBEVIRTS, None)) {
        return;
    }
    let file = format!("{PRIVATE_DIR}/{}/virt-serial0-log", obj::uid(vmi));
    let sidecar = json!({"name": CONTAINER, "image": LAUNCHER_IMAGE,
        "command": ["/usr/bin/virt-tail"], "args": ["--logfile", file], "restartPolicy": "Always",
        "volumeMounts": [{"name": "private", "mountPath": PRIVATE_DIR, "readOnly": true}],
        "resources": {"requests": {"cpu": "5m", "memory": "35M"},
                      "limits": {"cpu": "15m", "memory": "60M"}}});
    match pod["spec"]["initContainers"].as_array_mut() {
        Some(list) => list.push(sidecar),
        None => pod["spec"]["initContainers"] = json!([sidecar]),
    }
}

/// What the serial console of the guest `pod` runs has printed while `pod` ran it, when `pod`
/// has the sidecar: a launcher the guest has left keeps what it logged, and one it has not
/// reached yet has nothing. A real guest's is qemu's serial log; an emulated guest printed
/// agetty's banner and login prompt once its OS was up, in the launcher it booted in.
pub fn text(ctx: &Ctx, pod: &Value) -> Option<String> {
    let key = format!("{}/{}", obj::namespace(pod), obj::name(pod));
    if let Some(left) = has_sidecar(pod)
        .then(|| ctx.state().serial_logs_left.get(&key).cloned())
        .flatten()
    {
        return Some(left);
    }
    let guest = match logged_guest(ctx, pod)? {
        Logged::Here(guest) => guest,
        Logged::Elsewhere => return Some(String::new()),
    };
    let g = guest::lock(&guest);
    let booted_here = obj::label(pod, "kubevirt.io/migrationJobUID").is_none();
    Some(match (&g.machine, g.up && booted_here) {
        (Some(machine), _) => machine.console_log(),
        (None, true) => guest::console::banner(&g),
        (None, false) => String::new(),
    })
}

// kubernetes v1.32 pkg/kubelet/kubelet_pods.go validateContainerLogStatus (a terminated
// container's log is still served, the source launcher's virt-tail output included)
/// A guest about to migrate out of its launcher: what that launcher's serial log holds once
/// it has gone (a real guest's source qemu is held until then, so its log can be read).
pub struct Leaving {
    key: String,
    logged: Option<String>,
    machine: Option<Arc<crate::qemu::Machine>>,
}

impl Leaving {
    /// The guest in launcher `namespace/pod`, before its memory is copied away.
    pub fn now(ctx: &Ctx, namespace: &str, pod: &str) -> Leaving {
        let launcher = ctx.get(kinds::PODS, namespace, pod);
        let machine = match launcher.as_ref().and_then(|p| logged_guest(ctx, p)) {
            Some(Logged::Here(guest)) => guest::lock(&guest).machine.clone(),
            _ => None,
        };
        Leaving {
            key: format!("{namespace}/{pod}"),
            logged: launcher.and_then(|p| text(ctx, &p)),
            machine,
        }
    }

    /// The guest has left: the launcher keeps its log (while the pod exists).
    pub fn left(self, ctx: &Ctx) {
        let Some(before) = self.logged else {
            return;
        };
        let log = self.machine.map_or(before, |m| m.console_log());
        let kept: Vec<String> = ctx.state().serial_logs_left.keys().cloned().collect();
        let gone: Vec<String> = kept
            .into_iter()
            .filter(|key| {
                key.split_once('/')
                    .is_none_or(|(ns, name)| ctx.get(kinds::PODS, ns, name).is_none())
            })
            .collect();
        let mut state = ctx.state();
        for key in gone {
            state.serial_logs_left.remove(&key);
        }
        state.serial_logs_left.insert(self.key, log);
    }
}

fn has_sidecar(pod: &Value) -> bool {
    pod["spec"]["initContainers"]
        .as_array()
        .is_some_and(|list| list.iter().any(|c| c["name"] == CONTAINER))
}

/// Resolves when the real guest `pod` runs next prints on its serial port (virt-tail follows
/// the log file with inotify); never for an emulated guest or one that runs elsewhere.
pub fn grown(ctx: &Ctx, pod: &Value) -> BoxFuture<'static, ()> {
    let machine = match logged_guest(ctx, pod) {
        Some(Logged::Here(guest)) => guest::lock(&guest).machine.clone(),
        _ => None,
    };
    match machine {
        Some(machine) => machine.printed(),
        None => Box::pin(std::future::pending()),
    }
}

/// Where the guest whose console `pod` logs is.
enum Logged {
    /// In `pod`: the guest.
    Here(guest::GuestRef),
    /// In another launcher (a migration's source or target), or nowhere yet.
    Elsewhere,
}

/// The guest `pod` logs the console of; None when `pod` logs no console (no sidecar, not
/// running, no such VMI or guest).
fn logged_guest(ctx: &Ctx, pod: &Value) -> Option<Logged> {
    if !has_sidecar(pod) || obj::str_at(pod, "/status/phase") != "Running" {
        return None;
    }
    let uid = obj::label(pod, "kubevirt.io/created-by")?;
    let vmi = ctx
        .list(kinds::VMIS, Some(obj::namespace(pod)))
        .into_iter()
        .find(|v| obj::uid(v) == uid)?;
    let node = obj::str_at(pod, "/spec/nodeName");
    if node.is_empty() || obj::str_at(&vmi, "/status/nodeName") != node {
        return Some(Logged::Elsewhere);
    }
    ctx.guests.get(uid).map(Logged::Here)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vmi(devices: Value) -> Value {
        json!({"spec": {"domain": {"devices": devices}}})
    }

    fn cluster(disabled: bool) -> Vec<Arc<Value>> {
        let options = match disabled {
            true => json!({"disableSerialConsoleLog": {}}),
            false => json!({}),
        };
        vec![Arc::new(
            json!({"spec": {"configuration": {"virtualMachineOptions": options}}}),
        )]
    }

    /// serialconsolelog_test.go's table: the VMI's serial console first, then its own
    /// choice, then the cluster's.
    #[test]
    fn the_vmi_then_the_cluster_decide_whether_the_console_is_logged() {
        let cases = [
            (json!({}), false, true),
            (json!({}), true, false),
            (json!({"logSerialConsole": true}), true, true),
            (json!({"logSerialConsole": false}), false, false),
            (json!({"autoattachSerialConsole": false}), false, false),
            (
                json!({"autoattachSerialConsole": false, "logSerialConsole": true}),
                false,
                false,
            ),
        ];
        for (devices, disabled, expected) in cases {
            assert_eq!(
                enabled(&vmi(devices.clone()), &cluster(disabled)),
                expected,
                "devices {devices}, cluster disabled: {disabled}"
            );
        }
        assert!(enabled(&vmi(json!({})), &[]), "no KubeVirt CR: on");
    }
}

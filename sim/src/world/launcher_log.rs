//! What a virt-launcher pod's `compute` container has logged, read off the state the
//! simulator keeps: the launcher's start, the domain it defined and started for its VMI, the
//! migrations it was the source or target of, pauses, and what the simulator could not
//! model (an image whose OS it cannot place). Lines are virt-launcher's structured JSON
//! (kubevirt v1.9.0 staging/src/kubevirt.io/client-go/log/log.go `FilteredLogger.log`:
//! component, level, msg, timestamp, and kind/name/namespace/uid for the VMI's lines). Other
//! pods log nothing.

use serde_json::{json, Value};

use crate::guest::distro;
use crate::kinds;
use crate::obj;
use crate::store::Store;

/// One line and when it was written (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub timestamp: String,
    pub text: String,
}

/// The log of `container` of `pod` so far, oldest first.
pub fn lines(store: &Store, pod: &Value, container: &str) -> Vec<LogLine> {
    if obj::label(pod, "kubevirt.io") != Some("virt-launcher") || container != "compute" {
        return Vec::new();
    }
    let started = match obj::str_at(pod, "/status/startTime") {
        "" => return Vec::new(),
        t => t.to_string(),
    };
    let mut log = Log::default();
    for msg in [
        "Collected all requested hook sidecar sockets",
        "Connecting to libvirt daemon: qemu+unix:///session?socket=/var/run/libvirt/virtqemud-sock",
        "Connected to libvirt daemon",
        "Registered libvirt event notify callback",
        "Marked as ready",
    ] {
        log.push(&started, "info", msg, None);
    }
    let vmi_uid = obj::label(pod, "kubevirt.io/created-by").unwrap_or_default();
    let vmi = store
        .list(kinds::VMIS, Some(obj::namespace(pod)), &Default::default())
        .0
        .into_iter()
        .find(|v| obj::uid(v) == vmi_uid);
    if let Some(vmi) = vmi {
        domain_lines(&mut log, pod, &vmi);
    }
    log.lines.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    log.lines
}

#[derive(Default)]
struct Log {
    lines: Vec<LogLine>,
}

impl Log {
    fn push(&mut self, timestamp: &str, level: &str, msg: &str, vmi: Option<&Value>) {
        if timestamp.is_empty() {
            return;
        }
        // Keys in the order virt-launcher writes them (alphabetical).
        let mut line = json!({"component": "virt-launcher", "level": level, "msg": msg,
                              "timestamp": timestamp});
        if let Some(v) = vmi {
            line["kind"] = json!("VirtualMachineInstance");
            line["name"] = json!(obj::name(v));
            line["namespace"] = json!(obj::namespace(v));
            line["uid"] = json!(obj::uid(v));
        }
        self.lines.push(LogLine {
            timestamp: timestamp.to_string(),
            text: line.to_string(),
        });
    }
}

/// The phase's transition time in `status.phaseTransitionTimestamps`.
fn phase_time<'a>(vmi: &'a Value, phase: &str) -> &'a str {
    vmi["status"]["phaseTransitionTimestamps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["phase"] == phase)
        .map_or("", |p| obj::str_at(p, "/phaseTransitionTimestamp"))
}

fn domain_lines(log: &mut Log, pod: &Value, vmi: &Value) {
    let name = obj::name(pod);
    let migration = &vmi["status"]["migrationState"];
    let is_target = obj::label(pod, "kubevirt.io/migrationJobUID").is_some();
    if !is_target {
        let scheduled = phase_time(vmi, "Scheduled");
        log.push(
            scheduled,
            "info",
            "Executing PreStartHook on VMI pod environment",
            Some(vmi),
        );
        if let Some(note) = distro::of_vmi(vmi).note {
            log.push(scheduled, "warning", &note, Some(vmi));
        }
        log.push(
            phase_time(vmi, "Running"),
            "info",
            "Domain defined.",
            Some(vmi),
        );
        log.push(
            phase_time(vmi, "Running"),
            "info",
            "Domain started.",
            Some(vmi),
        );
    } else if migration["targetPod"] == name {
        let ready = obj::str_at(migration, "/targetNodeDomainReadyTimestamp");
        log.push(ready, "info", "Domain defined.", Some(vmi));
        log.push(ready, "info", "Migration target domain is ready", Some(vmi));
    }
    if migration["sourcePod"] == name {
        let start = obj::str_at(migration, "/startTimestamp");
        log.push(start, "info", "Initiating live migration.", Some(vmi));
        let end = obj::str_at(migration, "/endTimestamp");
        if migration["completed"] == true && migration["failed"] != true {
            log.push(end, "info", "Live migration succeeded.", Some(vmi));
        } else if migration["failed"] == true {
            let why = obj::str_at(migration, "/failureReason");
            let msg = format!("Live migration failed: {why}");
            log.push(end, "error", msg.trim_end_matches(": "), Some(vmi));
        }
    }
    let active = vmi["status"]["activePods"][obj::uid(pod)].is_string();
    if let Some(paused) = obj::condition(vmi, "Paused").filter(|_| active) {
        let at = obj::str_at(paused, "/lastTransitionTime");
        log.push(at, "info", "Domain paused.", Some(vmi));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_launcher_pods_that_started_have_a_log() {
        let store = Store::new(crate::clock::Clock::new(60.0).unwrap(), Default::default());
        let plain = json!({"metadata": {"name": "p", "namespace": "default"}, "status": {"startTime": "2026-01-01T00:00:00Z"}});
        assert!(lines(&store, &plain, "compute").is_empty());
        let pending = json!({"metadata": {"name": "virt-launcher-a", "namespace": "default", "labels": {"kubevirt.io": "virt-launcher"}}});
        assert!(lines(&store, &pending, "compute").is_empty());
    }
}

//! A pod's row: kubernetes v1.32 pkg/printers/internalversion/printers.go `printPod`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::age::{self, since};
use super::Row;

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// What the container statuses add up to.
struct Tally {
    reason: String,
    ready: usize,
    restarts: i64,
    /// When a container last terminated before a restart.
    last_restart: Option<DateTime<Utc>>,
}

impl Tally {
    fn restarted(&mut self, status: &Value) {
        self.restarts += status["restartCount"].as_i64().unwrap_or(0);
        let finished = text(&status["lastState"]["terminated"]["finishedAt"]);
        if let Some(t) = age::parse(finished) {
            self.last_restart = self.last_restart.max(Some(t));
        }
    }
}

pub fn row(pod: &Value, now: DateTime<Utc>) -> Row {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let phase = text(&status["phase"]);
    let mut tally = Tally {
        reason: match text(&status["reason"]) {
            "" => phase.to_string(),
            r => r.to_string(),
        },
        ready: 0,
        restarts: 0,
        last_restart: None,
    };
    if list(&status["conditions"])
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    {
        tally.reason = "SchedulingGated".into();
    }
    let sidecars = list(&spec["initContainers"])
        .iter()
        .filter(|c| c["restartPolicy"] == "Always")
        .count();
    let total = list(&spec["containers"]).len() + sidecars;
    let initializing = init_containers(pod, &mut tally);
    let initialized = list(&status["conditions"])
        .iter()
        .any(|c| c["type"] == "Initialized" && c["status"] == "True");
    if !initializing || initialized {
        containers(pod, &mut tally);
    }
    let deleting = pod["metadata"]["deletionTimestamp"].is_string();
    if deleting && text(&status["reason"]) == "NodeLost" {
        tally.reason = "Unknown".into();
    } else if deleting && !matches!(phase, "Succeeded" | "Failed") {
        tally.reason = "Terminating".into();
    }
    let restarts = match tally.last_restart {
        Some(t) if tally.restarts != 0 => {
            format!(
                "{} ({} ago)",
                tally.restarts,
                since(&json!(t.to_rfc3339()), now)
            )
        }
        _ => tally.restarts.to_string(),
    };
    let mut cells = vec![
        pod["metadata"]["name"].clone(),
        json!(format!("{}/{total}", tally.ready)),
        json!(tally.reason),
        json!(restarts),
        json!(since(&pod["metadata"]["creationTimestamp"], now)),
    ];
    cells.extend(wide(pod));
    Row {
        cells,
        conditions: row_conditions(phase),
    }
}

/// Init containers in order; `true` while the pod is still initializing.
fn init_containers(pod: &Value, tally: &mut Tally) -> bool {
    let declared = list(&pod["spec"]["initContainers"]);
    let sidecar = |name: &Value| {
        declared
            .iter()
            .any(|c| c["name"] == *name && c["restartPolicy"] == "Always")
    };
    for (i, c) in list(&pod["status"]["initContainerStatuses"])
        .iter()
        .enumerate()
    {
        tally.restarted(c);
        let state = &c["state"];
        let terminated = &state["terminated"];
        if terminated.is_object() && terminated["exitCode"].as_i64().unwrap_or(0) == 0 {
            continue;
        }
        if sidecar(&c["name"]) && c["started"] == true {
            tally.ready += usize::from(c["ready"] == true);
            continue;
        }
        let waiting = text(&state["waiting"]["reason"]);
        tally.reason = if terminated.is_object() {
            match text(&terminated["reason"]) {
                "" => match terminated["signal"].as_i64().unwrap_or(0) {
                    0 => format!("Init:ExitCode:{}", terminated["exitCode"]),
                    s => format!("Init:Signal:{s}"),
                },
                r => format!("Init:{r}"),
            }
        } else if !waiting.is_empty() && waiting != "PodInitializing" {
            format!("Init:{waiting}")
        } else {
            format!("Init:{i}/{}", declared.len())
        };
        return true;
    }
    false
}

/// Regular containers, last to first as upstream walks them, so the first one's state wins.
fn containers(pod: &Value, tally: &mut Tally) {
    let mut running = false;
    for c in list(&pod["status"]["containerStatuses"]).iter().rev() {
        tally.restarted(c);
        let state = &c["state"];
        let terminated = &state["terminated"];
        let waiting = text(&state["waiting"]["reason"]);
        if !waiting.is_empty() {
            tally.reason = waiting.to_string();
        } else if terminated.is_object() {
            tally.reason = match text(&terminated["reason"]) {
                "" => match terminated["signal"].as_i64().unwrap_or(0) {
                    0 => format!("ExitCode:{}", terminated["exitCode"].as_i64().unwrap_or(0)),
                    s => format!("Signal:{s}"),
                },
                r => r.to_string(),
            };
        } else if c["ready"] == true && state["running"].is_object() {
            running = true;
            tally.ready += 1;
        }
    }
    if tally.reason == "Completed" && running {
        let ready = list(&pod["status"]["conditions"])
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        tally.reason = if ready { "Running" } else { "NotReady" }.into();
    }
}

/// IP, Node, Nominated Node, Readiness Gates.
fn wide(pod: &Value) -> Vec<Value> {
    let or_none = |s: &str| json!(if s.is_empty() { "<none>" } else { s });
    let ip = list(&pod["status"]["podIPs"])
        .first()
        .map_or("", |p| text(&p["ip"]));
    let gates = list(&pod["spec"]["readinessGates"]);
    let readiness = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = list(&pod["status"]["conditions"]);
        let met = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| c["type"] == g["conditionType"])
                    .is_some_and(|c| c["status"] == "True")
            })
            .count();
        format!("{met}/{}", gates.len())
    };
    vec![
        or_none(ip),
        or_none(text(&pod["spec"]["nodeName"])),
        or_none(text(&pod["status"]["nominatedNodeName"])),
        json!(readiness),
    ]
}

/// `podSuccessConditions` / `podFailedConditions`: a finished pod's row is Completed.
fn row_conditions(phase: &str) -> Option<Value> {
    let (reason, message) = match phase {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_launcher_pod_reads_ready_running_with_its_ip_and_node() {
        let pod = json!({"metadata": {"name": "virt-launcher-vm1-abcde"},
            "spec": {"nodeName": "worker-1", "containers": [{"name": "compute"}, {"name": "guest-console-log"}]},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.128.0.7"}],
                "containerStatuses": [
                    {"name": "compute", "ready": true, "restartCount": 0, "state": {"running": {}}},
                    {"name": "guest-console-log", "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        let r = row(&pod, Utc::now());
        assert_eq!(
            &r.cells[1..4],
            &[json!("2/2"), json!("Running"), json!("0")]
        );
        assert_eq!(
            &r.cells[5..],
            &[
                json!("10.128.0.7"),
                json!("worker-1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        assert!(r.conditions.is_none());
    }

    #[test]
    fn a_pulling_pod_shows_the_waiting_reason_and_a_finished_one_completed() {
        let waiting = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert_eq!(row(&waiting, Utc::now()).cells[2], "ContainerCreating");
        let done = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        let r = row(&done, Utc::now());
        assert_eq!(
            (r.cells[1].clone(), r.cells[2].clone()),
            (json!("0/1"), json!("Completed"))
        );
        assert_eq!(r.conditions.unwrap()[0]["reason"], "Succeeded");
    }
}

//! What a person reads first about watched objects: phase, conditions, migration mode and
//! deletion in a line, and the namespace's last events.

use serde_json::Value;

use std::collections::BTreeMap;

use crate::cluster::kinds::{self, to_value, Kind};

/// One line per object: its phase and conditions, what a person checks first.
pub fn summary(seen: &BTreeMap<String, Value>) -> String {
    if seen.is_empty() {
        return "nothing".into();
    }
    seen.iter()
        .map(|(name, o)| format!("{name}: {}", state_of(o)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Phase, printable status, progress, conditions and deletion of one object, in a line.
pub fn state_of(o: &Value) -> String {
    let status = &o["status"];
    let mut parts = Vec::new();
    for key in ["phase", "printableStatus"] {
        if let Some(v) = status[key].as_str() {
            parts.push(format!("{key}={v}"));
        }
    }
    // A DataVolume's copy, e.g. "45.20%".
    if let Some(progress) = status["progress"].as_str() {
        parts.push(format!("progress={progress}"));
    }
    if let Some(mode) = status["migrationState"]["mode"].as_str() {
        parts.push(format!("migrationState.mode={mode}"));
    }
    let conditions: Vec<String> = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let reason = c["reason"].as_str().unwrap_or("");
            format!(
                "{}={}{}",
                c["type"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?"),
                if reason.is_empty() {
                    String::new()
                } else {
                    format!("({reason})")
                }
            )
        })
        .collect();
    if !conditions.is_empty() {
        parts.push(format!("conditions {}", conditions.join(",")));
    }
    if o["metadata"]["deletionTimestamp"].is_string() {
        parts.push("being deleted".into());
    }
    if parts.is_empty() {
        "no status".into()
    } else {
        parts.join(" ")
    }
}

/// The last few events of the namespace, for a timeout message.
pub async fn recent_events(client: &kube::Client, kind: &Kind, ns: &str) -> String {
    if !kind.namespaced {
        return String::new();
    }
    let Ok(list) = kinds::EVENT.api(client, ns).list(&Default::default()).await else {
        return String::new();
    };
    let mut events: Vec<Value> = list.items.iter().map(to_value).collect();
    events.sort_by_key(|e| {
        e["lastTimestamp"]
            .as_str()
            .or(e["eventTime"].as_str())
            .unwrap_or("")
            .to_string()
    });
    let lines: Vec<String> = events
        .iter()
        .rev()
        .take(8)
        .rev()
        .map(|e| {
            format!(
                "{} {}/{}: {}",
                e["reason"].as_str().unwrap_or(""),
                e["involvedObject"]["kind"].as_str().unwrap_or(""),
                e["involvedObject"]["name"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!("; recent events: {}", lines.join(" | "))
    }
}

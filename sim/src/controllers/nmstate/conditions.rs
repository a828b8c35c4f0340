//! The conditions of policies and enactments, set as kubernetes-nmstate's setters set them:
//! every type with its own status, reason and message, in upstream's order.

use serde_json::{json, Value};

/// One condition to set: type, status, reason, message.
pub type Entry<'a> = (&'a str, &'a str, &'a str, String);

/// Sets each entry on `object`'s `status.conditions`.
/// kubernetes-nmstate api/shared/condition_types.go ConditionList.Set: a new type is appended;
/// lastTransitionTime moves only when the status changes; lastHeartbeatTime always.
pub fn set_all(object: &mut Value, entries: &[Entry], now: &str) {
    let mut conditions: Vec<Value> = object["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (ty, status, reason, message) in entries {
        match conditions.iter_mut().find(|c| c["type"] == *ty) {
            Some(c) => {
                if c["status"] != *status {
                    c["lastTransitionTime"] = json!(now);
                }
                c["status"] = json!(status);
                c["reason"] = json!(reason);
                c["message"] = json!(message);
                c["lastHeartbeatTime"] = json!(now);
            }
            None => conditions.push(json!({"type": ty, "status": status, "reason": reason,
                "message": message, "lastHeartbeatTime": now, "lastTransitionTime": now})),
        }
    }
    object["status"]["conditions"] = Value::Array(conditions);
}

/// What an enactment reports.
pub enum Enactment {
    /// Waiting for a free slot under maxUnavailable.
    Pending,
    Progressing,
    Success,
    /// The apply failed and will be tried again (message: "... Retrying n/m").
    Retrying(String),
    /// The apply failed for good.
    Failed(String),
    Aborted(String),
}

/// kubernetes-nmstate pkg/enactmentstatus/conditions/conditions.go SetPending, SetProgressing,
/// SetSuccess, SetRetry, SetFailed, SetAborted (with the Notify* messages).
pub fn enactment(state: &Enactment) -> Vec<Entry<'static>> {
    let none = String::new;
    match state {
        Enactment::Pending => {
            let (r, m) = (
                "MaxUnavailableLimitReached",
                "Waiting for progressing nodes to finish".to_string(),
            );
            vec![
                ("Pending", "True", r, m.clone()),
                ("Aborted", "False", r, none()),
                ("Progressing", "False", r, m),
                ("Failing", "False", r, none()),
                ("Available", "False", r, none()),
            ]
        }
        Enactment::Progressing => {
            let r = "ConfigurationProgressing";
            vec![
                (
                    "Progressing",
                    "True",
                    r,
                    "Applying desired state".to_string(),
                ),
                ("Failing", "Unknown", r, none()),
                ("Available", "Unknown", r, none()),
                ("Pending", "False", r, none()),
                ("Aborted", "False", r, none()),
            ]
        }
        Enactment::Success => {
            let r = "SuccessfullyConfigured";
            vec![
                (
                    "Available",
                    "True",
                    r,
                    "successfully reconciled".to_string(),
                ),
                ("Failing", "False", r, none()),
                ("Progressing", "False", r, none()),
                ("Pending", "False", r, none()),
                ("Aborted", "False", r, none()),
            ]
        }
        Enactment::Retrying(m) => {
            let r = "Retrying";
            vec![
                ("Failing", "True", r, m.clone()),
                ("Progressing", "True", r, m.clone()),
                ("Available", "False", r, none()),
                ("Pending", "False", r, none()),
                ("Aborted", "False", "SuccessfullyConfigured", none()),
            ]
        }
        Enactment::Failed(m) => {
            let r = "FailedToConfigure";
            vec![
                ("Failing", "True", r, m.clone()),
                ("Available", "False", r, none()),
                ("Progressing", "False", r, none()),
                ("Pending", "False", r, none()),
                ("Aborted", "False", "SuccessfullyConfigured", none()),
            ]
        }
        Enactment::Aborted(m) => {
            let r = "ConfigurationAborted";
            vec![
                ("Failing", "False", r, none()),
                ("Available", "False", r, none()),
                ("Progressing", "False", r, none()),
                ("Pending", "False", r, none()),
                ("Aborted", "True", r, m.clone()),
            ]
        }
    }
}

/// The enactment condition types, each Unknown: a new enactment's conditions.
/// kubernetes-nmstate api/v1beta1/nodenetworkconfigurationenactment_types.go NewEnactment.
pub fn enactment_unknown() -> Vec<Entry<'static>> {
    ["Available", "Failing", "Progressing", "Pending", "Aborted"]
        .iter()
        .map(|ty| (*ty, "Unknown", "", String::new()))
        .collect()
}

/// What a policy reports.
pub enum Policy {
    Progressing(String),
    Success(String),
    NotMatching(String),
    FailedToConfigure(String),
}

/// kubernetes-nmstate pkg/policyconditions/conditions.go SetPolicyProgressing,
/// SetPolicySuccess, SetPolicyNotMatching, SetPolicyFailedToConfigure.
pub fn policy(state: &Policy) -> Vec<Entry<'static>> {
    let none = String::new;
    match state {
        Policy::Progressing(m) => {
            let r = "ConfigurationProgressing";
            vec![
                ("Degraded", "Unknown", r, none()),
                ("Available", "Unknown", r, none()),
                ("Progressing", "True", r, m.clone()),
                ("Ignored", "False", r, none()),
            ]
        }
        Policy::Success(m) => {
            let r = "SuccessfullyConfigured";
            vec![
                ("Degraded", "False", r, none()),
                ("Available", "True", r, m.clone()),
                ("Progressing", "False", r, none()),
                ("Ignored", "False", r, none()),
            ]
        }
        Policy::NotMatching(m) => {
            let r = "NoMatchingNode";
            vec![
                ("Degraded", "False", r, none()),
                ("Available", "False", r, none()),
                ("Progressing", "False", r, none()),
                ("Ignored", "True", r, m.clone()),
            ]
        }
        Policy::FailedToConfigure(m) => {
            let r = "FailedToConfigure";
            vec![
                ("Degraded", "True", r, m.clone()),
                ("Available", "False", r, none()),
                ("Progressing", "False", "ConfigurationProgressing", none()),
                ("Ignored", "False", r, none()),
            ]
        }
    }
}

/// Every policy condition Unknown, without reason: a reset policy.
/// kubernetes-nmstate pkg/policyconditions/conditions.go SetPolicyStatusUnknown.
pub fn policy_unknown() -> Vec<Entry<'static>> {
    ["Available", "Degraded", "Progressing", "Ignored"]
        .iter()
        .map(|ty| (*ty, "Unknown", "", String::new()))
        .collect()
}

/// The status of condition `ty`, if the object has it.
pub fn status<'a>(object: &'a Value, ty: &str) -> Option<&'a str> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)?["status"]
        .as_str()
}

/// Failing and Progressing both True: the enactment will apply again.
/// kubernetes-nmstate pkg/enactmentstatus/status.go IsRetrying.
pub fn is_retrying(enactment: &Value) -> bool {
    status(enactment, "Failing") == Some("True") && status(enactment, "Progressing") == Some("True")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_moves_the_transition_time_only_when_the_status_changes() {
        let mut o = json!({});
        set_all(&mut o, &enactment(&Enactment::Progressing), "t1");
        set_all(
            &mut o,
            &enactment(&Enactment::Retrying("again".into())),
            "t2",
        );
        let c = |ty: &str| {
            o["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == ty)
                .unwrap()
                .clone()
        };
        assert_eq!(c("Progressing")["lastTransitionTime"], "t1");
        assert_eq!(c("Progressing")["reason"], "Retrying");
        assert_eq!(c("Failing")["lastTransitionTime"], "t2");
        assert_eq!(c("Failing")["lastHeartbeatTime"], "t2");
        assert!(is_retrying(&o));
    }
}

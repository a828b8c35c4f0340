//! Conditions are values: each tests one object and says what it is waiting for, so the
//! description lands in the timeout message by itself. They combine with `and`, `or` and
//! `not` (after kube-runtime's `wait::Condition`), and [`conditions`] names the common ones.
//!
//! ```
//! use serde_json::json;
//! use vstp::cluster::wait::condition::{conditions, Condition};
//!
//! let ready = conditions::condition_true("Ready").and(conditions::phase("Running").not());
//! assert_eq!(ready.describe(), "condition Ready is True and not phase is Running");
//! let vmi = json!({"status": {"phase": "Scheduled",
//!     "conditions": [{"type": "Ready", "status": "True"}]}});
//! assert!(ready.matches(&vmi));
//! ```

use serde_json::Value;

/// A property of one watched object that describes itself.
pub trait Condition: Send + Sync {
    fn matches(&self, object: &Value) -> bool;

    /// What holds when it matches, phrased to follow "waiting for".
    fn describe(&self) -> String;

    fn and<C: Condition>(self, other: C) -> And<Self, C>
    where
        Self: Sized,
    {
        And(self, other)
    }

    fn or<C: Condition>(self, other: C) -> Or<Self, C>
    where
        Self: Sized,
    {
        Or(self, other)
    }

    fn not(self) -> Not<Self>
    where
        Self: Sized,
    {
        Not(self)
    }
}

impl<C: Condition + ?Sized> Condition for Box<C> {
    fn matches(&self, object: &Value) -> bool {
        (**self).matches(object)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl<C: Condition + ?Sized> Condition for &C {
    fn matches(&self, object: &Value) -> bool {
        (**self).matches(object)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// A test with its description; see [`is`].
pub struct Is<F> {
    what: String,
    test: F,
}

/// The condition `test`, described as `what`.
pub fn is<F: Fn(&Value) -> bool + Send + Sync>(what: impl Into<String>, test: F) -> Is<F> {
    Is {
        what: what.into(),
        test,
    }
}

impl<F: Fn(&Value) -> bool + Send + Sync> Condition for Is<F> {
    fn matches(&self, object: &Value) -> bool {
        (self.test)(object)
    }
    fn describe(&self) -> String {
        self.what.clone()
    }
}

pub struct And<A, B>(A, B);
pub struct Or<A, B>(A, B);
pub struct Not<A>(A);

impl<A: Condition, B: Condition> Condition for And<A, B> {
    fn matches(&self, object: &Value) -> bool {
        self.0.matches(object) && self.1.matches(object)
    }
    fn describe(&self) -> String {
        format!("{} and {}", self.0.describe(), self.1.describe())
    }
}

impl<A: Condition, B: Condition> Condition for Or<A, B> {
    fn matches(&self, object: &Value) -> bool {
        self.0.matches(object) || self.1.matches(object)
    }
    fn describe(&self) -> String {
        format!("{} or {}", self.0.describe(), self.1.describe())
    }
}

impl<A: Condition> Condition for Not<A> {
    fn matches(&self, object: &Value) -> bool {
        !self.0.matches(object)
    }
    fn describe(&self) -> String {
        format!("not {}", self.0.describe())
    }
}

/// Conditions any Kubernetes object can meet.
pub mod conditions {
    use crate::cluster::wait::condition::{is, status_of, Condition};

    /// Status condition `kind` is `True`.
    pub fn condition_true(kind: &'static str) -> impl Condition {
        is(format!("condition {kind} is True"), move |o| {
            status_of(o, kind) == Some("True")
        })
    }

    /// `status.phase` is `phase`.
    pub fn phase(phase: &'static str) -> impl Condition {
        is(format!("phase is {phase}"), move |o| {
            o["status"]["phase"] == phase
        })
    }

    /// The object is not the one with `uid` any more: deleted, or replaced by a new one of the
    /// same name (a new UID is a deletion, as in kube-runtime's `is_deleted`).
    pub fn replaced(uid: String) -> impl Condition {
        is(format!("the object with UID {uid} to be gone"), move |o| {
            o["metadata"]["uid"] != uid.as_str()
        })
    }
}

/// The status of condition `kind` on `o` ("True", "False", "Unknown"), if present.
pub fn status_of<'a>(o: &'a Value, kind: &str) -> Option<&'a str> {
    entry(o, kind)?["status"].as_str()
}

/// Condition `kind` itself.
pub fn entry<'a>(o: &'a Value, kind: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

#[cfg(test)]
mod tests {
    use super::conditions::*;
    use super::*;
    use serde_json::json;

    fn vmi(phase: &str, agent: &str) -> Value {
        json!({"metadata": {"uid": "u1"}, "status": {"phase": phase,
            "conditions": [{"type": "AgentConnected", "status": agent}]}})
    }

    #[test]
    fn combinations_match_as_their_parts_say_and_describe_themselves() {
        let up = phase("Running").and(condition_true("AgentConnected"));
        assert!(up.matches(&vmi("Running", "True")));
        assert!(!up.matches(&vmi("Running", "False")));
        assert!(!up.matches(&vmi("Scheduled", "True")));
        let over = phase("Failed").or(phase("Succeeded"));
        assert!(over.matches(&vmi("Failed", "False")));
        assert!(!over.matches(&vmi("Running", "True")));
        assert!(over.not().matches(&vmi("Running", "True")));
        assert_eq!(
            up.describe(),
            "phase is Running and condition AgentConnected is True"
        );
    }

    #[test]
    fn a_new_uid_counts_as_gone() {
        let gone = replaced("u1".into());
        assert!(!gone.matches(&vmi("Running", "True")));
        assert!(gone.matches(&json!({"metadata": {"uid": "u2"}})));
        assert!(gone.matches(&Value::Null));
    }
}

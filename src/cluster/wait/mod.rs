//! Waits are watches. A wait lists what it watches, checks, then follows the watch from the
//! list's resourceVersion (or replays from a version read before the change, so that no step
//! of a sequence is missed) until its check passes, a terminal state shows, the server refuses
//! for good, or its budget ends (saying so when a replay's history had expired). `holds_for` turns it round: something must stay true for a
//! window. Every failure says what was awaited and what was last seen.
//!
//! ```no_run
//! # async fn example(client: kube::Client) -> anyhow::Result<()> {
//! use std::time::Duration;
//! use vstp::cluster::kinds;
//! use vstp::cluster::wait::condition::{conditions, Condition};
//! use vstp::cluster::wait::Watch;
//!
//! // Boot: AgentConnected, but a VMI that fails on the way fails the wait at once.
//! let vmi = Watch::object(&client, kinds::VMI, "ns", "vm-a")
//!     .failing_on(conditions::phase("Failed"))
//!     .until_met(&conditions::condition_true("AgentConnected"), Duration::from_secs(600))
//!     .await?;
//! // Nothing migrates it for a minute.
//! Watch::all(&client, kinds::VMIM, "ns")
//!     .holds_for("no migration of vm-a", Duration::from_secs(60), |seen| seen.is_empty())
//!     .await?;
//! # let _ = vmi; Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, DynamicObject};
use serde_json::Value;

use super::kinds::Kind;
use condition::Condition;
use describe::{recent_events, summary};
use error::Stop;
pub use error::WaitError;
use log::Followed;

pub mod condition;
pub mod describe;
pub mod error;
mod follow;
pub mod log;

/// What a watch currently knows: object name → object.
pub type Seen = BTreeMap<String, Value>;

/// A watch over one object or a labelled set of one kind.
pub struct Watch {
    client: kube::Client,
    kind: Kind,
    ns: String,
    fields: Option<String>,
    labels: Option<String>,
    since: Option<String>,
    terminal: Option<Box<dyn Condition>>,
}

impl Watch {
    /// The object `name` of `kind` in `ns` (cluster-scoped kinds ignore `ns`).
    pub fn object(client: &kube::Client, kind: Kind, ns: &str, name: &str) -> Watch {
        Watch {
            fields: Some(format!("metadata.name={name}")),
            ..Watch::all(client, kind, ns)
        }
    }

    /// Every object of `kind` in `ns`.
    pub fn all(client: &kube::Client, kind: Kind, ns: &str) -> Watch {
        Watch {
            client: client.clone(),
            kind,
            ns: ns.to_string(),
            fields: None,
            labels: None,
            since: None,
            terminal: None,
        }
    }

    pub fn labels(mut self, selector: &str) -> Watch {
        self.labels = Some(selector.to_string());
        self
    }

    pub fn fields(mut self, selector: &str) -> Watch {
        self.fields = Some(selector.to_string());
        self
    }

    /// Replays every change after `resource_version` (read before the change being awaited).
    pub fn since(mut self, resource_version: &str) -> Watch {
        self.since = Some(resource_version.to_string());
        self
    }

    /// Ends the wait at once, as an error naming the object and its state, when a watched
    /// object meets `terminal` (a VMI that goes Failed during a boot wait).
    pub fn failing_on(mut self, terminal: impl Condition + 'static) -> Watch {
        self.terminal = Some(Box::new(terminal));
        self
    }

    fn api(&self) -> Api<DynamicObject> {
        self.kind.api(&self.client, &self.ns)
    }

    fn describe(&self) -> String {
        let mut d = self.kind.kind.to_string();
        if self.kind.namespaced {
            d += &format!(" in {}", self.ns);
        }
        for s in [&self.fields, &self.labels].into_iter().flatten() {
            d += &format!(" [{s}]");
        }
        d
    }

    /// Until `check` returns something, within `budget`.
    pub async fn until<T>(
        self,
        awaited: &str,
        budget: Duration,
        mut check: impl FnMut(&Seen) -> Option<T>,
    ) -> Result<T, WaitError> {
        let seen = Arc::new(Mutex::new(Seen::new()));
        let mut followed = Followed::default();
        let started = std::time::SystemTime::now();
        let work = self.follow(&seen, &mut check, &mut followed);
        let outcome = tokio::time::timeout(budget, work).await;
        let met = matches!(outcome, Ok(Ok(_)));
        log::record(awaited, &self.describe(), started, &followed, met);
        match outcome {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(stop)) => Err(self.stopped(awaited, stop)),
            Err(_) => {
                let last = summary(&lock(&seen));
                Err(WaitError::Timeout {
                    awaited: awaited.to_string(),
                    watched: self.describe(),
                    budget,
                    last,
                    lost: followed.lost.clone().unwrap_or_default(),
                    events: recent_events(&self.client, &self.kind, &self.ns).await,
                })
            }
        }
    }

    fn stopped(&self, awaited: &str, stop: Stop) -> WaitError {
        let (awaited, watched) = (awaited.to_string(), self.describe());
        match stop {
            Stop::Terminal { object, state } => WaitError::Terminal {
                reached: self
                    .terminal
                    .as_ref()
                    .map_or_else(String::new, |t| t.describe()),
                awaited,
                watched,
                object,
                state,
            },
            Stop::Refused(status) => WaitError::Refused {
                awaited,
                watched,
                code: status.code,
                reason: status.reason,
                message: status.message,
            },
        }
    }

    /// Until the one watched object satisfies `check`; returns it.
    pub async fn until_object(
        self,
        awaited: &str,
        budget: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Result<Value, WaitError> {
        self.until(awaited, budget, |seen| {
            seen.values().find(|o| check(o)).cloned()
        })
        .await
    }

    /// Until a watched object meets `condition`, which also describes what was awaited.
    pub async fn until_met(
        self,
        condition: &impl Condition,
        budget: Duration,
    ) -> Result<Value, WaitError> {
        let awaited = condition.describe();
        self.until_object(&awaited, budget, |o| condition.matches(o))
            .await
    }

    /// Until nothing watched exists any more.
    pub async fn until_gone(self, awaited: &str, budget: Duration) -> Result<(), WaitError> {
        self.until(awaited, budget, |seen| seen.is_empty().then_some(()))
            .await
    }

    /// Follows the watch for `window` and fails as soon as `holds` stops holding for what is
    /// seen: "nothing matching happens" checked over a window, not at one instant. `window` is
    /// on the target's clock (see `Budgets::window`).
    pub async fn holds_for(
        self,
        what: &str,
        window: Duration,
        mut holds: impl FnMut(&Seen) -> bool,
    ) -> Result<(), WaitError> {
        let seen = Arc::new(Mutex::new(Seen::new()));
        let mut followed = Followed::default();
        let mut check = |s: &Seen| (!holds(s)).then(|| summary(s));
        let outcome = tokio::time::timeout(window, self.follow(&seen, &mut check, &mut followed));
        match outcome.await {
            Err(_) => Ok(()),
            Ok(Ok(last)) => Err(WaitError::Broken {
                what: what.to_string(),
                watched: self.describe(),
                window,
                last,
            }),
            Ok(Err(stop)) => Err(self.stopped(what, stop)),
        }
    }

    /// `condition` keeps holding for the watched object for `window`.
    pub async fn keeps(
        self,
        condition: &impl Condition,
        window: Duration,
    ) -> Result<(), WaitError> {
        let what = condition.describe();
        self.holds_for(&what, window, |seen| {
            seen.values().all(|o| condition.matches(o))
        })
        .await
    }
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|p| p.into_inner())
}

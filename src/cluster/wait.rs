//! Waits are watches. A wait lists what it watches, checks, then follows the watch from the
//! list's resourceVersion (or from a version read before the change, so that no step of a
//! sequence is missed) until its check passes or its budget ends. A timeout says what was
//! awaited, what was last seen, and the namespace's recent events.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use kube::api::{Api, DynamicObject, ListParams, WatchEvent, WatchParams};
use serde_json::Value;

use super::kinds::{self, Kind};

pub mod log;

/// What following a watch took: its API requests (lists and watch streams) and the
/// resourceVersion of the change that met the check (none when it held from the start).
#[derive(Debug, Default)]
pub struct Followed {
    pub requests: u32,
    pub met_at: Option<String>,
}

/// What a watch currently knows: object name → object.
pub type Seen = BTreeMap<String, Value>;

#[derive(Debug, thiserror::Error)]
#[error("timed out after {budget:?} waiting for {awaited} ({watched}); last seen: {last}{events}")]
pub struct WaitError {
    pub awaited: String,
    pub watched: String,
    pub budget: Duration,
    pub last: String,
    pub events: String,
}

/// A watch over one object or a labelled set of one kind.
pub struct Watch {
    client: kube::Client,
    kind: Kind,
    ns: String,
    fields: Option<String>,
    labels: Option<String>,
    since: Option<String>,
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
        log::record(
            awaited,
            &self.describe(),
            started,
            &followed,
            outcome.is_ok(),
        );
        match outcome {
            Ok(found) => Ok(found),
            Err(_) => {
                let last = summary(&lock(&seen));
                Err(WaitError {
                    awaited: awaited.to_string(),
                    watched: self.describe(),
                    budget,
                    last,
                    events: recent_events(&self.client, &self.kind, &self.ns).await,
                })
            }
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

    /// Until nothing watched exists any more.
    pub async fn until_gone(self, awaited: &str, budget: Duration) -> Result<(), WaitError> {
        self.until(awaited, budget, |seen| seen.is_empty().then_some(()))
            .await
    }

    async fn follow<T>(
        &self,
        seen: &Mutex<Seen>,
        check: &mut impl FnMut(&Seen) -> Option<T>,
        followed: &mut Followed,
    ) -> T {
        let api = self.api();
        let mut from = self.since.clone();
        let mut failures = 0u32;
        loop {
            // From a given version the watch replays every change in order, starting from
            // nothing seen; a list would show the present first and the past after it.
            let version = match from.take() {
                Some(since) => since,
                None => match self.counted(followed, self.list(&api, seen)).await {
                    Ok(version) => version,
                    Err(_) => {
                        failures += 1;
                        backoff(failures).await;
                        continue;
                    }
                },
            };
            if let Some(found) = check(&lock(seen)) {
                return found;
            }
            let mut resume = version;
            // Follows one watch stream after another; a stream that ends or cannot start resumes
            // from the last version seen, an expired version (410) starts over from a list.
            loop {
                let params = self.watch_params();
                let stream = match self.counted(followed, api.watch(&params, &resume)).await {
                    Ok(stream) => stream,
                    Err(kube::Error::Api(status)) if status.code == 410 => break,
                    Err(_) => {
                        failures += 1;
                        backoff(failures).await;
                        continue;
                    }
                };
                let mut stream = std::pin::pin!(stream);
                let mut expired = false;
                while let Ok(Some(event)) = stream.try_next().await {
                    match event {
                        WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                            resume = version_of(&o).unwrap_or(resume);
                            lock(seen).insert(name_of(&o), to_value(&o));
                        }
                        WatchEvent::Deleted(o) => {
                            resume = version_of(&o).unwrap_or(resume);
                            lock(seen).remove(&name_of(&o));
                        }
                        WatchEvent::Bookmark(b) => resume = b.metadata.resource_version,
                        WatchEvent::Error(status) => {
                            expired = status.code == 410;
                            break;
                        }
                    }
                    if let Some(found) = check(&lock(seen)) {
                        followed.met_at = Some(resume);
                        return found;
                    }
                }
                if expired {
                    break;
                }
                failures = 0;
            }
        }
    }

    async fn counted<T>(
        &self,
        followed: &mut Followed,
        request: impl std::future::Future<Output = T>,
    ) -> T {
        followed.requests += 1;
        request.await
    }

    async fn list(&self, api: &Api<DynamicObject>, seen: &Mutex<Seen>) -> kube::Result<String> {
        let params = ListParams {
            field_selector: self.fields.clone(),
            label_selector: self.labels.clone(),
            ..Default::default()
        };
        let list = api.list(&params).await?;
        let mut seen = lock(seen);
        seen.clear();
        for o in &list.items {
            seen.insert(name_of(o), to_value(o));
        }
        Ok(list.metadata.resource_version.unwrap_or_default())
    }

    fn watch_params(&self) -> WatchParams {
        let mut params = WatchParams::default().timeout(290);
        params.bookmarks = true;
        params.field_selector = self.fields.clone();
        params.label_selector = self.labels.clone();
        params
    }
}

/// Transient API trouble: a pause between attempts; the wait's budget bounds them all.
async fn backoff(failures: u32) {
    tokio::time::sleep(super::retry::backoff(failures)).await;
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|p| p.into_inner())
}

fn name_of(o: &DynamicObject) -> String {
    o.metadata.name.clone().unwrap_or_default()
}

fn version_of(o: &DynamicObject) -> Option<String> {
    o.metadata.resource_version.clone()
}

pub fn to_value(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// One line per object: its phase and conditions, what a person checks first.
pub fn summary(seen: &Seen) -> String {
    if seen.is_empty() {
        return "nothing".into();
    }
    seen.iter()
        .map(|(name, o)| format!("{name}: {}", state_of(o)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Phase, printable status, conditions and deletion of one object, in a line.
pub fn state_of(o: &Value) -> String {
    let status = &o["status"];
    let mut parts = Vec::new();
    for key in ["phase", "printableStatus"] {
        if let Some(v) = status[key].as_str() {
            parts.push(format!("{key}={v}"));
        }
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
async fn recent_events(client: &kube::Client, kind: &Kind, ns: &str) -> String {
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

/// The status of condition `kind` on `o` ("True", "False", "Unknown"), if present.
pub fn condition<'a>(o: &'a Value, kind: &str) -> Option<&'a str> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?["status"]
        .as_str()
}

/// Condition `kind` itself.
pub fn condition_entry<'a>(o: &'a Value, kind: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

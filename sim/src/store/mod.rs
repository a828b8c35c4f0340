//! The object store: every object of every kind, one cluster-wide resourceVersion counter
//! (like etcd's revision), and the event history watches resume from.
//!
//! All writes go through one mutex, so resourceVersions strictly increase and every watcher
//! sees events in commit order; an event is broadcast under the same lock it was committed
//! with, so a watch that subscribes under that lock can neither miss nor repeat one.

mod delete;
mod meta;
pub mod selector;
mod watch;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::error::{ApiError, ApiResult};
use crate::kinds::{self, KindId};

pub use delete::{DeleteOptions, Propagation};
pub use meta::check_shape;
pub use selector::Selectors;
pub use watch::{Subscription, WatchFilter, WatchStart};

/// What a write may change: the main resource keeps the stored status, the status
/// subresource keeps everything but the status; controllers of the simulated world write both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Main,
    Status,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: KindId,
    pub kind_of_change: EventType,
    pub namespace: String,
    pub object: Arc<Value>,
    /// The object before the change, so a selector watch can tell "left the selection".
    pub old: Option<Arc<Value>>,
    /// `object` serialized once, shared by every watcher.
    pub json: Bytes,
}

type Key = (String, String);

struct Inner {
    rv: u64,
    objects: Vec<BTreeMap<Key, Arc<Value>>>,
    history: VecDeque<Arc<Event>>,
    /// Events up to and including this resourceVersion are no longer in `history`.
    compacted: u64,
}

/// Tuning of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Events kept for watches to resume from; older resourceVersions answer 410.
    pub history: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { history: 50_000 }
    }
}

pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Event>>,
    /// Bumped to end every open watch stream, as an API server restart would.
    disconnects: tokio::sync::watch::Sender<u64>,
    clock: Clock,
    config: StoreConfig,
    /// When each resourceVersion was committed.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
}

fn key(ns: &str, name: &str) -> Key {
    (ns.to_string(), name.to_string())
}

impl Store {
    pub fn new(clock: Clock, config: StoreConfig) -> Store {
        let (events, _) = broadcast::channel(config.history.clamp(1024, 65_536));
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: kinds::KINDS.iter().map(|_| BTreeMap::new()).collect(),
                history: VecDeque::new(),
                compacted: 1,
            }),
            events,
            disconnects: tokio::sync::watch::channel(0).0,
            clock,
            config,
            telemetry: Arc::default(),
        }
    }

    /// Ends every open watch stream; clients re-watch from the last resourceVersion they saw.
    pub fn disconnect_watches(&self) {
        self.disconnects.send_modify(|n| *n += 1);
    }

    /// Every committed change from now on, for the simulated world's controllers.
    pub fn events(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves no half-written object (every commit builds
        // the new value first), so the data is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current resourceVersion of the whole store.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, kind: KindId, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.lock().objects[kind].get(&key(ns, name)).cloned()
    }

    /// Objects of `kind` (in `ns` if given) matching `selectors`, with the list's resourceVersion.
    pub fn list(
        &self,
        kind: KindId,
        ns: Option<&str>,
        selectors: &Selectors,
    ) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        (select(&inner.objects[kind], ns, selectors), inner.rv)
    }

    /// Creates an object; `scope` says whether a status given at creation is kept
    /// (the simulated world) or reset as the API does for user requests.
    pub fn create(
        &self,
        kind: KindId,
        object: Value,
        scope: Scope,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        let mut inner = self.lock();
        let object = meta::prepare_create(self, &inner, kind, object, scope)?;
        let (ns, name) = meta::ns_name(&object);
        if inner.objects[kind].contains_key(&key(&ns, &name)) {
            return Err(ApiError::already_exists(kinds::get(kind), &name));
        }
        if dry_run {
            return Ok(Arc::new(object));
        }
        Ok(self.commit(&mut inner, kind, EventType::Added, object, None))
    }

    /// Read-modify-write of one object: `change` gets the stored object and returns the new one.
    /// A resourceVersion in the result must equal the stored one (optimistic concurrency).
    /// A change that changes nothing commits nothing, as on a real API server.
    pub fn modify(
        &self,
        kind: KindId,
        ns: &str,
        name: &str,
        scope: Scope,
        dry_run: bool,
        change: impl FnOnce(&Value) -> ApiResult<Value>,
    ) -> ApiResult<Arc<Value>> {
        let mut inner = self.lock();
        let k = kinds::get(kind);
        let old = inner.objects[kind]
            .get(&key(ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(k, name))?;
        let new = change(&old)?;
        let new = meta::prepare_update(k, &old, new, scope)?;
        if new == *old || dry_run {
            return Ok(if dry_run { Arc::new(new) } else { old });
        }
        if meta::deleting(&new) && meta::finalizers(&new).is_empty() {
            return Ok(self.remove(&mut inner, kind, ns, name, new));
        }
        Ok(self.commit(&mut inner, kind, EventType::Modified, new, Some(old)))
    }

    /// Stamps the next resourceVersion on `object`, stores it and tells the watchers.
    fn commit(
        &self,
        inner: &mut Inner,
        kind: KindId,
        kind_of_change: EventType,
        mut object: Value,
        old: Option<Arc<Value>>,
    ) -> Arc<Value> {
        inner.rv += 1;
        let rv = inner.rv;
        self.telemetry.changed(rv);
        object["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let (ns, name) = meta::ns_name(&object);
        let object = Arc::new(object);
        let slot = &mut inner.objects[kind];
        if kind_of_change == EventType::Deleted {
            slot.remove(&key(&ns, &name));
        } else {
            slot.insert(key(&ns, &name), object.clone());
        }
        let json = Bytes::from(serde_json::to_vec(&*object).expect("a JSON value serializes"));
        let event = Arc::new(Event {
            rv,
            kind,
            kind_of_change,
            namespace: ns,
            object: object.clone(),
            old,
            json,
        });
        inner.history.push_back(event.clone());
        while inner.history.len() > self.config.history {
            if let Some(dropped) = inner.history.pop_front() {
                inner.compacted = dropped.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
        object
    }

    /// Forgets the whole event history, as etcd compaction does; watches from any earlier
    /// resourceVersion then get `410 Expired`.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.compacted = inner.rv;
    }
}

fn select(
    objects: &BTreeMap<Key, Arc<Value>>,
    ns: Option<&str>,
    selectors: &Selectors,
) -> Vec<Arc<Value>> {
    let in_scope = |k: &Key| ns.is_none_or(|ns| k.0 == ns);
    match (selectors.fields.name(), ns) {
        (Some(name), Some(ns)) => objects
            .get(&key(ns, name))
            .filter(|o| selectors.matches(o))
            .cloned()
            .into_iter()
            .collect(),
        _ => objects
            .iter()
            .filter(|(k, o)| in_scope(k) && selectors.matches(o))
            .map(|(_, o)| o.clone())
            .collect(),
    }
}

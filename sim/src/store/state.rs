//! The store's contents (objects by kind, the resourceVersion counter, the event history),
//! reads of them, and the one place a change is committed and broadcast.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast;

use super::meta;
use super::selector::Selectors;
use crate::clock::Clock;
use crate::kinds::{self, KindId};

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
    /// `object` as the wire shows it (see [`crate::gojson`]), serialized once, shared by every
    /// watcher.
    pub json: Bytes,
}

pub(super) type Key = (String, String);

pub(super) struct Inner {
    pub(super) rv: u64,
    pub(super) objects: Vec<BTreeMap<Key, Arc<Value>>>,
    pub(super) history: VecDeque<Arc<Event>>,
    /// Events up to and including this resourceVersion are no longer in `history`.
    pub(super) compacted: u64,
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
    pub(super) events: broadcast::Sender<Arc<Event>>,
    /// Bumped to end every open watch stream, as an API server restart would.
    pub(super) disconnects: tokio::sync::watch::Sender<u64>,
    clock: Clock,
    config: StoreConfig,
    /// When each resourceVersion was committed.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
}

pub(super) fn key(ns: &str, name: &str) -> Key {
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

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
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

    /// Stamps the next resourceVersion on `object`, stores it and tells the watchers.
    pub(super) fn commit(
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
        let wire = crate::gojson::shaped(&object);
        let json = Bytes::from(serde_json::to_vec(&wire).expect("a JSON value serializes"));
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

pub(super) fn select(
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

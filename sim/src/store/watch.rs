//! Watch subscriptions: a snapshot or a replay from the history, then live events, taken
//! under the store lock so that the hand-over neither loses nor repeats an event.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use super::selector::Selectors;
use super::state::{select, Event, EventType, Store};
use crate::error::{ApiError, ApiResult};
use crate::kinds::KindId;

/// Where a watch begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// Synthetic ADDED events for the current state, then changes (resourceVersion unset or
    /// "0", or `sendInitialEvents=true`).
    Snapshot,
    /// Every change after this resourceVersion.
    After(u64),
}

pub struct Subscription {
    /// Objects to send as ADDED first (for `Snapshot`).
    pub initial: Vec<Arc<Value>>,
    /// Changes from the history to send before the live ones (for `After`).
    pub replay: Vec<Arc<Event>>,
    pub live: broadcast::Receiver<Arc<Event>>,
    /// The store's resourceVersion when the subscription was taken.
    pub rv: u64,
    pub filter: WatchFilter,
    /// Changes when the store disconnects all watches.
    pub disconnect: tokio::sync::watch::Receiver<u64>,
}

/// Which events a watch sees, and as what.
#[derive(Debug, Clone)]
pub struct WatchFilter {
    pub kind: KindId,
    pub namespace: Option<String>,
    pub selectors: Selectors,
}

impl WatchFilter {
    /// The event type this watcher should see for `event`, if any. With selectors an update
    /// that moves an object into the selection is ADDED and one that moves it out is DELETED,
    /// as the API server's watch cache reports them.
    pub fn view(&self, event: &Event) -> Option<EventType> {
        if event.kind != self.kind {
            return None;
        }
        if self
            .namespace
            .as_ref()
            .is_some_and(|ns| *ns != event.namespace)
        {
            return None;
        }
        let now = self.selectors.matches(&event.object);
        let before = event
            .old
            .as_ref()
            .is_some_and(|o| self.selectors.matches(o));
        match event.kind_of_change {
            EventType::Added => now.then_some(EventType::Added),
            EventType::Deleted => (now || before).then_some(EventType::Deleted),
            EventType::Modified => match (before, now) {
                (true, true) => Some(EventType::Modified),
                (false, true) => Some(EventType::Added),
                (true, false) => Some(EventType::Deleted),
                (false, false) => None,
            },
        }
    }
}

impl Store {
    pub fn subscribe(&self, filter: WatchFilter, start: WatchStart) -> ApiResult<Subscription> {
        let inner = self.lock();
        let live = self.events.subscribe();
        let (initial, replay) = match start {
            WatchStart::Snapshot => {
                let objects = &inner.objects[filter.kind];
                let ns = filter.namespace.as_deref();
                (select(objects, ns, &filter.selectors), Vec::new())
            }
            WatchStart::After(rv) if rv < inner.compacted => {
                return Err(ApiError::gone(format!(
                    "too old resource version: {rv} ({})",
                    inner.compacted + 1
                )))
            }
            WatchStart::After(rv) => {
                let first = inner.history.partition_point(|e| e.rv <= rv);
                let replay = inner.history.range(first..).cloned().collect();
                (Vec::new(), replay)
            }
        };
        Ok(Subscription {
            initial,
            replay,
            live,
            rv: inner.rv,
            filter,
            disconnect: self.disconnects.subscribe(),
        })
    }
}

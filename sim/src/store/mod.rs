//! The object store: every object of every kind, one cluster-wide resourceVersion counter
//! (like etcd's revision), and the event history watches resume from.
//!
//! All writes go through one mutex, so resourceVersions strictly increase and every watcher
//! sees events in commit order; an event is broadcast under the same lock it was committed
//! with, so a watch that subscribes under that lock can neither miss nor repeat one.

mod delete;
mod meta;
pub mod selector;
mod state;
mod watch;
mod write;

pub use delete::{DeleteOptions, Propagation};
pub use meta::{check_shape, Scope};
pub use selector::Selectors;
pub use state::{Event, EventType, Store, StoreConfig};
pub use watch::{Subscription, WatchFilter, WatchStart};

//! Writes: create and read-modify-write, under the store lock from check to commit.

use std::sync::Arc;

use serde_json::Value;

use super::meta::{self, Scope};
use super::state::{key, EventType, Inner, Store};
use crate::error::{ApiError, ApiResult};
use crate::kinds::{self, Kind, KindId};

impl Store {
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
        let object = meta::prepare_create(self.clock(), kind, object, scope)?;
        let (ns, name) = meta::ns_name(&object);
        check_namespace(&inner, kinds::get(kind), &ns)?;
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
}

/// A namespaced object can be created only in a namespace that exists and is not terminating.
fn check_namespace(inner: &Inner, kind: &Kind, ns: &str) -> ApiResult<()> {
    if !kind.namespaced {
        return Ok(());
    }
    let namespaces = kinds::get(kinds::NAMESPACES);
    let found = inner.objects[kinds::NAMESPACES].get(&(String::new(), ns.to_string()));
    match found {
        None => Err(ApiError::not_found(namespaces, ns)),
        Some(n) if meta::deleting(n) => Err(ApiError::forbidden(format!(
            "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            kind.qualified(),
            meta::ns_name(n).1
        ))),
        Some(_) => Ok(()),
    }
}

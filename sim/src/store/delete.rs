//! Deletion: finalizers (a `deletionTimestamp` until they are gone), garbage collection of
//! dependents through ownerReferences, and namespace deletion that empties the namespace first.

use std::sync::Arc;

use serde_json::{json, Value};

use super::meta::{deleting, finalizers, ns_name};
use super::state::{key, EventType, Inner, Store};
use crate::error::{ApiError, ApiResult};
use crate::kinds::{self, KindId};

/// `propagationPolicy` of DeleteOptions. Foreground is carried out like Background: dependents
/// are deleted in the same instant, so no client can observe the difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Propagation,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl Propagation {
    pub fn parse(s: &str) -> ApiResult<Propagation> {
        match s {
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            "Orphan" => Ok(Propagation::Orphan),
            other => Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Background\", \"Foreground\", \"Orphan\""
            ))),
        }
    }
}

fn check_preconditions(kind: KindId, object: &Value, opts: &DeleteOptions) -> ApiResult<()> {
    let (_, name) = ns_name(object);
    let meta = &object["metadata"];
    let k = kinds::get(kind);
    if let Some(uid) = &opts.precondition_uid {
        if meta["uid"].as_str() != Some(uid) {
            let why = format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta["uid"].as_str().unwrap_or_default()
            );
            return Err(ApiError::conflict(k, &name, &why));
        }
    }
    if let Some(rv) = &opts.precondition_rv {
        if meta["resourceVersion"].as_str() != Some(rv) {
            let why = format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta["resourceVersion"].as_str().unwrap_or_default()
            );
            return Err(ApiError::conflict(k, &name, &why));
        }
    }
    Ok(())
}

impl Store {
    /// Deletes one object. With finalizers it only gets a `deletionTimestamp`; the object is
    /// removed when the last finalizer is. Returns the object as last stored.
    pub fn delete(
        &self,
        kind: KindId,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Arc<Value>> {
        let mut inner = self.lock();
        let object = inner.objects[kind]
            .get(&key(ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(kinds::get(kind), name))?;
        check_preconditions(kind, &object, opts)?;
        if opts.dry_run {
            return Ok(object);
        }
        if opts.propagation == Propagation::Orphan {
            self.orphan_dependents(&mut inner, &object);
        }
        if kind == kinds::NAMESPACES {
            return Ok(self.delete_namespace(&mut inner, name, object));
        }
        Ok(self.delete_locked(&mut inner, kind, ns, name, object))
    }

    fn delete_locked(
        &self,
        inner: &mut Inner,
        kind: KindId,
        ns: &str,
        name: &str,
        object: Arc<Value>,
    ) -> Arc<Value> {
        if finalizers(&object).is_empty() {
            return self.remove(inner, kind, ns, name, (*object).clone());
        }
        if deleting(&object) {
            return object;
        }
        let mut marked = (*object).clone();
        marked["metadata"]["deletionTimestamp"] = json!(self.clock().timestamp());
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        self.commit(inner, kind, EventType::Modified, marked, Some(object))
    }

    /// Removes an object for good, then whatever depended on it.
    pub(super) fn remove(
        &self,
        inner: &mut Inner,
        kind: KindId,
        ns: &str,
        name: &str,
        object: Value,
    ) -> Arc<Value> {
        let old = inner.objects[kind].get(&key(ns, name)).cloned();
        let uid = object["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let gone = self.commit(inner, kind, EventType::Deleted, object, old);
        self.collect_dependents(inner, &uid);
        if kinds::get(kind).namespaced {
            let _ = self.finish_namespace_if_empty(inner, ns);
        }
        gone
    }

    /// Background garbage collection: objects whose owners are all gone are deleted.
    fn collect_dependents(&self, inner: &mut Inner, owner_uid: &str) {
        let mut orphans = Vec::new();
        for (kind, objects) in inner.objects.iter().enumerate() {
            for ((ns, name), o) in objects {
                if owned_by(o, owner_uid) && !has_live_owner(inner, o, owner_uid) {
                    orphans.push((kind, ns.clone(), name.clone(), o.clone()));
                }
            }
        }
        for (kind, ns, name, o) in orphans {
            self.delete_locked(inner, kind, &ns, &name, o);
        }
    }

    fn orphan_dependents(&self, inner: &mut Inner, owner: &Value) {
        let uid = owner["metadata"]["uid"].as_str().unwrap_or_default();
        let mut dependents = Vec::new();
        for (kind, objects) in inner.objects.iter().enumerate() {
            for o in objects.values().filter(|o| owned_by(o, uid)) {
                dependents.push((kind, o.clone()));
            }
        }
        for (kind, o) in dependents {
            let mut freed = (*o).clone();
            if let Some(refs) = freed["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"].as_str() != Some(uid));
            }
            self.commit(inner, kind, EventType::Modified, freed, Some(o));
        }
    }

    fn delete_namespace(&self, inner: &mut Inner, name: &str, ns_object: Arc<Value>) -> Arc<Value> {
        let mut last_seen = ns_object.clone();
        if !deleting(&ns_object) {
            let mut terminating = (*ns_object).clone();
            terminating["metadata"]["deletionTimestamp"] = json!(self.clock().timestamp());
            terminating["status"]["phase"] = json!("Terminating");
            last_seen = self.commit(
                inner,
                kinds::NAMESPACES,
                EventType::Modified,
                terminating,
                Some(ns_object),
            );
        }
        let mut contents = Vec::new();
        for (kind, objects) in inner.objects.iter().enumerate() {
            for ((ns, obj_name), o) in objects.iter().filter(|((ns, _), _)| ns == name) {
                contents.push((kind, ns.clone(), obj_name.clone(), o.clone()));
            }
        }
        for (kind, ns, obj_name, o) in contents {
            self.delete_locked(inner, kind, &ns, &obj_name, o);
        }
        // The namespace may already be gone: removing its last object finishes it.
        let current = inner.objects[kinds::NAMESPACES]
            .get(&key("", name))
            .cloned();
        self.finish_namespace_if_empty(inner, name)
            .or(current)
            .unwrap_or(last_seen)
    }

    /// A terminating namespace goes away once nothing is left in it; returns it if it went.
    fn finish_namespace_if_empty(&self, inner: &mut Inner, ns: &str) -> Option<Arc<Value>> {
        let ns_object = inner.objects[kinds::NAMESPACES]
            .get(&key("", ns))
            .cloned()?;
        if !deleting(&ns_object) {
            return None;
        }
        let empty = inner
            .objects
            .iter()
            .all(|objects| objects.keys().all(|(n, _)| n != ns));
        empty.then(|| {
            self.commit(
                inner,
                kinds::NAMESPACES,
                EventType::Deleted,
                (*ns_object).clone(),
                Some(ns_object),
            )
        })
    }
}

fn owned_by(object: &Value, uid: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(uid)))
}

/// Whether any owner other than `gone_uid` still exists.
fn has_live_owner(inner: &Inner, object: &Value, gone_uid: &str) -> bool {
    let refs = object["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    refs.iter()
        .filter_map(|r| r["uid"].as_str())
        .filter(|uid| *uid != gone_uid)
        .any(|uid| {
            inner.objects.iter().any(|objects| {
                objects
                    .values()
                    .any(|o| o["metadata"]["uid"].as_str() == Some(uid))
            })
        })
}

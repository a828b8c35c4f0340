//! get, list, create, update, patch, delete and deletecollection of stored objects, and the
//! status and eviction subresources.

use std::sync::Arc;

use axum::response::Response;
use http::Method;
use serde_json::{json, Value};

use super::path::{Route, Target};
use super::{json_response, patch, podlog, table, watch, ApiState, Call};
use crate::error::{ApiError, ApiResult};
use crate::kinds::{self, Kind, KindId};
use crate::store::{DeleteOptions, Propagation, Scope};

pub fn handle(state: &Arc<ApiState>, route: Route, call: &Call) -> ApiResult<Response> {
    match route {
        Route::Collection {
            kind,
            version,
            namespace,
        } => collection(state, kind, &version, namespace, call),
        Route::Object {
            kind,
            version,
            namespace,
            name,
            subresource,
        } => {
            let target = Target {
                kind,
                version,
                namespace: namespace.unwrap_or_default(),
                name,
            };
            match subresource.as_deref() {
                _ if kinds::get(kind).review => Err(ApiError::path_not_found()),
                None => object(state, &target, Scope::Main, call),
                Some("status") if kinds::get(kind).status => {
                    object(state, &target, Scope::Status, call)
                }
                Some("eviction") if kind == kinds::PODS => evict(state, &target, call),
                Some("log") if kind == kinds::PODS => podlog::serve(state, &target, call),
                Some(_) => Err(ApiError::path_not_found()),
            }
        }
        _ => Err(ApiError::path_not_found()),
    }
}

fn collection(
    state: &Arc<ApiState>,
    kind_id: KindId,
    version: &str,
    namespace: Option<String>,
    call: &Call,
) -> ApiResult<Response> {
    let kind = kinds::get(kind_id);
    let store = &state.store;
    if kind.review {
        return review(state, kind, version, call);
    }
    match call.method {
        Method::GET if call.flag("watch") => watch::serve(state, kind_id, version, namespace, call),
        Method::GET => {
            let sel = call.selectors(kind)?;
            let (items, rv) = store.list(kind_id, namespace.as_deref(), &sel);
            let body = table::represent(call, kind_id, list(kind, version, &items, rv))?;
            Ok(json_response(200, &body))
        }
        Method::POST => {
            let ns = match (kind.namespaced, namespace) {
                (true, Some(ns)) => ns,
                (true, None) => {
                    return Err(ApiError::method_not_allowed("POST", &kind.qualified()))
                }
                (false, _) => String::new(),
            };
            let mut body = checked_body(call, kind, version, &ns)?;
            state.world.admit_create(store, kind_id, &mut body)?;
            let created = store.create(kind_id, body, Scope::Main, call.dry_run())?;
            Ok(json_response(201, &kind.present(&created, version)))
        }
        Method::DELETE => {
            let sel = call.selectors(kind)?;
            let opts = delete_options(call)?;
            let (items, rv) = store.list(kind_id, namespace.as_deref(), &sel);
            let mut deleted = Vec::new();
            for item in items {
                let ns = item["metadata"]["namespace"].as_str().unwrap_or_default();
                let name = item["metadata"]["name"].as_str().unwrap_or_default();
                match store.delete(kind_id, ns, name, &opts) {
                    Ok(o) => deleted.push(o),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(json_response(200, &list(kind, version, &deleted, rv)))
        }
        _ => Err(ApiError::method_not_allowed(
            call.method.as_str(),
            &kind.qualified(),
        )),
    }
}

/// A review is only created: answered from the role, never stored.
fn review(state: &ApiState, kind: &Kind, version: &str, call: &Call) -> ApiResult<Response> {
    if call.method != Method::POST {
        return Err(ApiError::method_not_allowed(
            call.method.as_str(),
            &kind.qualified(),
        ));
    }
    let body = checked_body(call, kind, version, "")?;
    let answered = crate::access::review(&state.role, body)?;
    Ok(json_response(201, &kind.present(&answered, version)))
}

pub fn list(kind: &Kind, version: &str, items: &[Arc<Value>], rv: u64) -> Value {
    let items: Vec<Value> = items.iter().map(|o| kind.present(o, version)).collect();
    json!({
        "apiVersion": kind.api_version(version),
        "kind": format!("{}List", kind.kind),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    })
}

/// The body of a create or update, checked against the URL it was sent to.
fn checked_body(call: &Call, kind: &Kind, version: &str, ns: &str) -> ApiResult<Value> {
    let mut body = call.required_body()?;
    crate::store::check_shape(&body)?;
    let expected = kind.api_version(version);
    if let Some(given) = body["apiVersion"].as_str() {
        if given != expected {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({given}) does not match the expected API version ({expected})"
            )));
        }
    }
    if let Some(given) = body["kind"].as_str() {
        if given != kind.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({given}) does not match the expected kind ({})",
                kind.kind
            )));
        }
    }
    if kind.namespaced {
        match body["metadata"]["namespace"].as_str() {
            Some(given) if !given.is_empty() && given != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => body["metadata"]["namespace"] = json!(ns),
        }
    }
    Ok(body)
}

fn object(state: &Arc<ApiState>, t: &Target, scope: Scope, call: &Call) -> ApiResult<Response> {
    let kind = kinds::get(t.kind);
    let store = &state.store;
    let shown = |o: &Value| kind.present(o, &t.version);
    match call.method {
        Method::GET => {
            let o = store
                .get(t.kind, &t.namespace, &t.name)
                .ok_or_else(|| ApiError::not_found(kind, &t.name))?;
            let body = table::represent(call, t.kind, shown(&o))?;
            Ok(json_response(200, &body))
        }
        Method::PUT => {
            let body = checked_body(call, kind, &t.version, &t.namespace)?;
            let updated = store.modify(
                t.kind,
                &t.namespace,
                &t.name,
                scope,
                call.dry_run(),
                |old| state.admit_update(t.kind, scope, old, body),
            )?;
            Ok(json_response(200, &shown(&updated)))
        }
        Method::PATCH => {
            let (code, patched) = patch::apply(state, t, scope, call)?;
            Ok(json_response(code, &shown(&patched)))
        }
        Method::DELETE if scope == Scope::Main => {
            let opts = delete_options(call)?;
            let gone = store.delete(t.kind, &t.namespace, &t.name, &opts)?;
            Ok(json_response(200, &shown(&gone)))
        }
        _ => Err(ApiError::method_not_allowed(
            call.method.as_str(),
            &kind.qualified(),
        )),
    }
}

/// DeleteOptions from the JSON body (kube-rs, kubectl) or the query string (curl-style).
fn delete_options(call: &Call) -> ApiResult<DeleteOptions> {
    let body = call.json_body()?.unwrap_or(Value::Null);
    options_from(&body, call)
}

fn options_from(body: &Value, call: &Call) -> ApiResult<DeleteOptions> {
    let policy = body["propagationPolicy"]
        .as_str()
        .or_else(|| call.param("propagationPolicy"));
    let dry_run = body["dryRun"]
        .as_array()
        .is_some_and(|d| d.iter().any(|v| v == "All"))
        || call.dry_run();
    let pre = &body["preconditions"];
    Ok(DeleteOptions {
        propagation: policy
            .map(Propagation::parse)
            .transpose()?
            .unwrap_or_default(),
        precondition_uid: pre["uid"].as_str().map(String::from),
        precondition_rv: pre["resourceVersion"].as_str().map(String::from),
        dry_run,
    })
}

/// `POST pods/{name}/eviction`: the world decides; an allowed eviction deletes the pod.
fn evict(state: &Arc<ApiState>, t: &Target, call: &Call) -> ApiResult<Response> {
    if call.method != Method::POST {
        return Err(ApiError::method_not_allowed(
            call.method.as_str(),
            "pods/eviction",
        ));
    }
    let eviction = call.required_body()?;
    if eviction["kind"].as_str().is_some_and(|k| k != "Eviction") {
        return Err(ApiError::bad_request(
            "the body of a pods/eviction request must be an Eviction",
        ));
    }
    let kind = kinds::get(kinds::PODS);
    let pod = state
        .store
        .get(t.kind, &t.namespace, &t.name)
        .ok_or_else(|| ApiError::not_found(kind, &t.name))?;
    let opts = options_from(&eviction["deleteOptions"], call)?;
    state.world.evict(&state.store, &pod, opts.dry_run)?;
    super::eviction::check_budgets(&state.store, &pod, opts.dry_run)?;
    state.store.delete(t.kind, &t.namespace, &t.name, &opts)?;
    Ok(json_response(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}

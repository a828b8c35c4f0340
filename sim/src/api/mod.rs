//! The HTTP API server: auth, routing, request decoding and the `Status` error replies.

mod accept;
mod discovery;
mod eviction;
mod objects;
mod patch;
pub mod path;
mod podlog;
mod portforward;
mod protobuf;
mod table;
mod virt;
mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderMap, Method, StatusCode};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::faults::Faults;
use crate::kinds::{Kind, KindId};
use crate::store::selector::{FieldSelector, LabelSelector};
use crate::store::{Scope, Selectors, Store};
use crate::world::World;
use path::Route;

/// Largest request body accepted, as kube-apiserver's default (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub struct ApiState {
    pub store: Arc<Store>,
    pub world: Arc<dyn World>,
    pub token: String,
    /// `host:port` the server listens on, for `/api`'s serverAddressByClientCIDRs.
    pub address: String,
    pub faults: Arc<Faults>,
    /// What the token may do.
    pub role: crate::access::Role,
}

impl ApiState {
    /// The world's update admission, for writes to the main resource only (controllers own
    /// status).
    pub fn admit_update(
        &self,
        kind: KindId,
        scope: Scope,
        old: &Value,
        mut new: Value,
    ) -> ApiResult<Value> {
        if scope == Scope::Main {
            self.world.admit_update(kind, old, &mut new)?;
        }
        Ok(new)
    }
}

pub fn router(state: Arc<ApiState>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

/// A decoded request: what every handler needs besides the route.
pub struct Call {
    pub method: Method,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Call {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn flag(&self, name: &str) -> bool {
        self.param(name) == Some("true") || self.param(name) == Some("1")
    }

    pub fn dry_run(&self) -> bool {
        self.param("dryRun") == Some("All")
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("application/json")
            .trim()
    }

    /// The body as JSON (or YAML, which the API server also accepts); `None` when empty.
    pub fn json_body(&self) -> ApiResult<Option<Value>> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let content_type = self.content_type();
        if protobuf::is_protobuf(content_type) {
            return protobuf::decode(&self.body).map(Some);
        }
        let known = content_type.starts_with("application/")
            && (content_type.ends_with("json") || content_type.ends_with("yaml"));
        if !known {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: \
                 application/json, application/yaml, {} (got {content_type})",
                protobuf::MEDIA_TYPE
            )));
        }
        let yaml = content_type.contains("yaml");
        let parsed = if yaml {
            serde_saphyr::from_slice::<Value>(&self.body).map_err(|e| e.to_string())
        } else {
            serde_json::from_slice::<Value>(&self.body).map_err(|e| e.to_string())
        };
        parsed.map(Some).map_err(|e| {
            ApiError::bad_request(format!(
                "the request body is not valid {}: {e}",
                if yaml { "YAML" } else { "JSON" }
            ))
        })
    }

    /// The label and field selectors of a list or watch of `kind`.
    pub fn selectors(&self, kind: &Kind) -> ApiResult<Selectors> {
        Ok(Selectors {
            labels: LabelSelector::parse(self.param("labelSelector").unwrap_or(""))?,
            fields: FieldSelector::parse(self.param("fieldSelector").unwrap_or(""), kind)?,
        })
    }

    pub fn required_body(&self) -> ApiResult<Value> {
        self.json_body()?.ok_or_else(|| {
            ApiError::bad_request("the request body is empty; send the object as JSON")
        })
    }
}

pub fn json_response(code: u16, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
    bytes_response(code, Bytes::from(bytes))
}

pub fn bytes_response(code: u16, body: Bytes) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("static headers are valid")
}

pub fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.status());
    if e.code == 429 {
        r.headers_mut()
            .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    }
    r
}

/// An empty OpenAPI v2 document (a protobuf message with no fields is zero bytes). kubectl
/// downloads it to validate and to compute apply patches; finding no schema there, it skips
/// schema validation and takes patch strategies from its compiled-in types, which is what it
/// does for custom resources without a schema. vstp-sim does not publish schemas.
fn empty_openapi_v2() -> Response {
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::empty())
        .expect("static headers are valid")
}

/// Whether the request bears the cluster's token. kube-apiserver authenticates before
/// anything else (k8s.io/apiserver pkg/endpoints/filters/authentication.go,
/// `withAuthentication`): a token no authenticator accepts gets 401 `Unauthorized` at once,
/// whatever the path, and is never served anonymously.
fn authorized(state: &ApiState, headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    given == Some(state.token.as_str())
}

async fn handle(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    let telemetry = &state.store.telemetry;
    if !authorized(&state, req.headers()) {
        let uri = req.uri();
        telemetry.unauthenticated(req.method().as_str(), uri.path(), uri.query());
        return error_response(&ApiError::unauthorized());
    }
    telemetry.request(req.method().as_str(), req.uri().path(), req.uri().query());
    if let Some(fault) = state.faults.api_failure(req.uri().path()) {
        return error_response(&fault);
    }
    if let Some(refused) = protobuf::unacceptable(req.headers()) {
        return error_response(&refused);
    }
    let route = path::parse(req.uri().path());
    if let Route::Virt { action, .. } = &route {
        if action == "portforward" {
            return portforward::upgrade(&state, route.clone(), req);
        }
        if action == "console" {
            return portforward::console(&state, route.clone(), req);
        }
    }
    let query = Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let message = format!("Request entity too large: limit is {MAX_BODY}");
            return error_response(&ApiError::new(413, "RequestEntityTooLarge", message));
        }
    };
    let call = Call {
        method: parts.method,
        query,
        headers: parts.headers,
        body,
    };
    // A bug in a handler answers 500 instead of dropping the connection; the store stays
    // consistent because every write builds the new object before committing it.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dispatch(&state, route, &call)
    }));
    match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => error_response(&e),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            error_response(&ApiError::internal(format!(
                "vstp-sim bug while serving this request: {what}"
            )))
        }
    }
}

/// Refuses (403) a request the role does not allow, as kube-apiserver's authorization filter
/// does before any handler (k8s.io/apiserver pkg/endpoints/filters/authorization.go
/// `WithAuthorization`).
fn authorize(state: &ApiState, route: &Route, call: &Call) -> ApiResult<()> {
    use crate::access::{self, Permission};
    let (kind, namespace, name, sub, collection) = match route {
        Route::Collection {
            kind, namespace, ..
        } => (*kind, namespace, "", None, true),
        Route::Object {
            kind,
            namespace,
            name,
            subresource,
            ..
        } => (
            *kind,
            namespace,
            name.as_str(),
            subresource.as_deref(),
            false,
        ),
        _ => return Ok(()),
    };
    let kind = crate::kinds::get(kind);
    let asked = Permission {
        verb: access::verb(&call.method, collection, call.flag("watch")).into(),
        group: kind.group.into(),
        resource: match sub {
            Some(sub) => format!("{}/{sub}", kind.plural),
            None => kind.plural.into(),
        },
    };
    if state.role.allows(&asked) {
        Ok(())
    } else {
        Err(access::refuse(&asked, namespace.as_deref(), name))
    }
}

fn dispatch(state: &Arc<ApiState>, route: Route, call: &Call) -> ApiResult<Response> {
    let get_only = |value: Option<Value>| -> ApiResult<Response> {
        match (call.method == Method::GET, value) {
            (true, Some(v)) => Ok(json_response(200, &v)),
            (true, None) => Err(ApiError::path_not_found()),
            (false, _) => Err(ApiError::method_not_allowed(
                call.method.as_str(),
                "discovery",
            )),
        }
    };
    match route {
        Route::Version => get_only(Some(discovery::version())),
        Route::CoreVersions => get_only(Some(discovery::core_versions(&state.address))),
        Route::Groups => get_only(Some(discovery::groups())),
        Route::Group(name) => get_only(discovery::group(&name)),
        Route::Resources { group, version } => {
            get_only(Some(discovery::resources(&group, &version)))
        }
        Route::Collection { .. } | Route::Object { .. } => {
            authorize(state, &route, call)?;
            objects::handle(state, route, call)
        }
        Route::Virt { .. } => virt::handle(state, route, call),
        Route::OpenApiV2 if call.method == Method::GET => Ok(empty_openapi_v2()),
        Route::OpenApiV2 | Route::OpenApi | Route::NotFound => Err(ApiError::path_not_found()),
    }
}

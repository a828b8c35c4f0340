//! Watches over HTTP: newline-delimited JSON events, as kube-apiserver streams them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::header;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::accept::{self, Representation, TableRequest};
use super::{table, ApiState, Call};
use crate::error::{ApiError, ApiResult};
use crate::kinds::{self, Kind, KindId};
use crate::store::{EventType, Subscription, WatchFilter, WatchStart};

/// Used when the client gives no `timeoutSeconds` (kube-apiserver picks 30–60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// How often an idle watch that allows bookmarks gets one, well inside clients' idle limits.
const BOOKMARK_EVERY: Duration = Duration::from_secs(30);

fn frame(kind_of_event: &str, object_json: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(object_json.len() + 32);
    b.put_slice(b"{\"type\":\"");
    b.put_slice(kind_of_event.as_bytes());
    b.put_slice(b"\",\"object\":");
    b.put_slice(object_json);
    b.put_slice(b"}\n");
    b.freeze()
}

fn value_frame(kind_of_event: &str, object: &Value) -> Bytes {
    frame(
        kind_of_event,
        &serde_json::to_vec(object).expect("a JSON value serializes"),
    )
}

fn bookmark(kind: &Kind, version: &str, rv: u64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    let object =
        json!({"kind": kind.kind, "apiVersion": kind.api_version(version), "metadata": metadata});
    value_frame("BOOKMARK", &object)
}

fn start_of(call: &Call) -> ApiResult<WatchStart> {
    if call.param("sendInitialEvents") == Some("true") {
        return Ok(WatchStart::Snapshot);
    }
    match call.param("resourceVersion") {
        None | Some("0") => Ok(WatchStart::Snapshot),
        Some(rv) => rv.parse().map(WatchStart::After).map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: \"{rv}\": must be a non-negative integer"
            ))
        }),
    }
}

fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .expect("static headers are valid")
}

/// What one watch sends, besides the store events.
struct Plan {
    kind: &'static Kind,
    version: String,
    timeout: Duration,
    bookmarks: bool,
    initial_end_bookmark: bool,
    /// Ends the stream early (the `watch-drops` fault).
    max_events: Option<usize>,
    kind_id: KindId,
    /// Events carry one-row Tables (`kubectl get -w`) instead of objects.
    table: Option<TableRequest>,
    /// Only the first Table of a watch carries the column definitions, as kube-apiserver
    /// sends them (kubectl reuses the last ones it saw).
    headers_pending: std::cell::Cell<bool>,
}

pub fn serve(
    state: &Arc<ApiState>,
    kind_id: KindId,
    version: &str,
    namespace: Option<String>,
    call: &Call,
) -> ApiResult<Response> {
    let kind = kinds::get(kind_id);
    let table = match accept::negotiate(call)? {
        Representation::Table(t) => Some(t),
        Representation::Object => None,
    };
    let filter = WatchFilter {
        kind: kind_id,
        namespace,
        selectors: call.selectors(kind)?,
    };
    let start = start_of(call)?;
    let timeout = match call.param("timeoutSeconds") {
        Some(s) => Duration::from_secs(s.parse().map_err(|_| {
            ApiError::bad_request(format!("timeoutSeconds: Invalid value: \"{s}\""))
        })?),
        None => DEFAULT_TIMEOUT,
    };
    let (tx, rx) = mpsc::channel(256);
    let expired = match start {
        WatchStart::After(rv) if state.faults.expires(rv) => Err(ApiError::gone(format!(
            "too old resource version: {rv} (vstp-sim fault expired-rv-on-resume)"
        ))),
        _ => state.store.subscribe(filter, start),
    };
    let sub = match expired {
        Ok(sub) => sub,
        Err(e) if e.code == 410 => {
            // An expired resourceVersion is an ERROR event in a 200 stream, so that clients
            // re-list instead of retrying the same version.
            let _ = tx.try_send(value_frame("ERROR", &e.status()));
            return Ok(stream_response(rx));
        }
        Err(e) => return Err(e),
    };
    let plan = Plan {
        kind,
        version: version.to_string(),
        timeout,
        bookmarks: call.flag("allowWatchBookmarks"),
        initial_end_bookmark: call.param("sendInitialEvents") == Some("true"),
        max_events: state.faults.watch_cut(),
        kind_id,
        table,
        headers_pending: std::cell::Cell::new(true),
    };
    let faults = state.faults.clone();
    tokio::spawn(async move {
        if let Some(rv) = pump(sub, plan, tx).await {
            faults.cut_after(rv);
        }
    });
    Ok(stream_response(rx))
}

fn event_frame(plan: &Plan, event: &crate::store::Event, as_type: EventType) -> Bytes {
    if plan.version == plan.kind.preferred_version() && plan.table.is_none() {
        frame(as_type.as_str(), &event.json)
    } else {
        object_frame(plan, as_type.as_str(), &event.object)
    }
}

/// A stored object as this watch shows it: the object in the watched version, or its Table.
fn object_frame(plan: &Plan, kind_of_event: &str, object: &Value) -> Bytes {
    let shown = plan.kind.present(object, &plan.version);
    let Some(request) = &plan.table else {
        return value_frame(kind_of_event, &shown);
    };
    let meta = json!({"resourceVersion": shown["metadata"]["resourceVersion"]});
    let headers = plan.headers_pending.replace(false);
    let one = std::slice::from_ref(&shown);
    let t = table::table(plan.kind_id, one, meta, request, headers);
    value_frame(kind_of_event, &t)
}

/// Streams until the client leaves, the timeout, or a cut; after a cut, the resourceVersion of
/// the last event sent (where the client will resume).
async fn pump(mut sub: Subscription, plan: Plan, tx: mpsc::Sender<Bytes>) -> Option<u64> {
    let deadline = tokio::time::sleep(plan.timeout);
    tokio::pin!(deadline);
    let mut sent = 0usize;
    let mut last_rv = sub.rv;
    let mut first = Vec::new();
    for o in sub.initial.drain(..) {
        first.push(object_frame(&plan, "ADDED", &o));
    }
    if plan.initial_end_bookmark {
        first.push(bookmark(plan.kind, &plan.version, sub.rv, true));
    }
    for e in sub.replay.drain(..) {
        if let Some(t) = sub.filter.view(&e) {
            first.push(event_frame(&plan, &e, t));
        }
    }
    for f in first {
        if tx.send(f).await.is_err() {
            return None;
        }
    }
    let mut ticks = tokio::time::interval(BOOKMARK_EVERY);
    ticks.tick().await;
    loop {
        let frame = tokio::select! {
            biased;
            _ = tx.closed() => return None,
            _ = &mut deadline => return None,
            _ = sub.disconnect.changed() => return None,
            received = sub.live.recv() => match received {
                Ok(e) => {
                    last_rv = e.rv;
                    match sub.filter.view(&e) {
                        Some(t) => event_frame(&plan, &e, t),
                        None => continue,
                    }
                }
                // Too slow to keep up: end the stream; the client resumes from its last
                // resourceVersion, which the history still holds.
                Err(broadcast::error::RecvError::Lagged(_)) => return None,
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = ticks.tick(), if plan.bookmarks => bookmark(plan.kind, &plan.version, last_rv, false),
        };
        if tx.send(frame).await.is_err() {
            return None;
        }
        sent += 1;
        if plan.max_events.is_some_and(|max| sent >= max) {
            return Some(last_rv);
        }
    }
}

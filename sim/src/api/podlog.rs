//! `GET pods/{name}/log`: the container log as kube-apiserver proxies it from the kubelet,
//! with PodLogOptions (`container`, `tailLines`, `sinceSeconds`/`sinceTime`, `timestamps`,
//! `limitBytes`, `previous`, `follow`). What each container logged comes from the world
//! ([`crate::world::launcher_log`]).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{header, Method};
use serde_json::Value;
use tokio::sync::mpsc;

use super::path::Target;
use super::{ApiState, Call};
use crate::controllers::serial_log;
use crate::error::{ApiError, ApiResult};
use crate::kinds;
use crate::obj;
use crate::store::{WatchFilter, WatchStart};
use crate::world::launcher_log::{self, LogLine};

/// The PodLogOptions of one request.
#[derive(Clone)]
struct Options {
    container: String,
    tail: Option<usize>,
    since: Option<DateTime<Utc>>,
    timestamps: bool,
    limit: Option<usize>,
    follow: bool,
}

pub fn serve(state: &Arc<ApiState>, t: &Target, call: &Call) -> ApiResult<Response> {
    if call.method != Method::GET {
        return Err(ApiError::method_not_allowed(
            call.method.as_str(),
            "pods/log",
        ));
    }
    let pod = state
        .store
        .get(kinds::PODS, &t.namespace, &t.name)
        .ok_or_else(|| ApiError::not_found(kinds::get(kinds::PODS), &t.name))?;
    let options = options(call, &pod)?;
    // kubernetes v1.32 pkg/registry/core/pod/strategy.go `LogLocation`: an unscheduled pod
    // has no kubelet to ask, and its log is empty.
    if obj::str_at(&pod, "/spec/nodeName").is_empty() {
        return Ok(text_response(Bytes::new()));
    }
    kubelet_refusal(&pod, &options, call.flag("previous"))?;
    let lines = log_lines(state, &pod, &options.container, options.follow);
    let shown = select(&lines, &options);
    let first = render(&shown, &options);
    if !options.follow || terminated(&pod) {
        return Ok(text_response(Bytes::from(first)));
    }
    follow(state, pod, options, lines, first)
}

fn options(call: &Call, pod: &Value) -> ApiResult<Options> {
    let number = |name: &str, min: i64| -> ApiResult<Option<i64>> {
        let Some(raw) = call.param(name) else {
            return Ok(None);
        };
        let n: i64 = raw.parse().map_err(|_| {
            ApiError::bad_request(format!("{name}: Invalid value: \"{raw}\": not an integer"))
        })?;
        if n < min {
            return Err(invalid(format!(
                "{name}: Invalid value: {n}: must be greater than or equal to {min}"
            )));
        }
        Ok(Some(n))
    };
    let tail = number("tailLines", 0)?.map(|n| n as usize);
    let limit = number("limitBytes", 1)?.map(|n| n as usize);
    let since_seconds = number("sinceSeconds", 1)?;
    let since_time = call.param("sinceTime");
    if since_seconds.is_some() && since_time.is_some() {
        return Err(invalid(
            "sinceTime: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
                .into(),
        ));
    }
    let since = match (since_seconds, since_time) {
        (Some(s), _) => Some(Utc::now() - chrono::Duration::seconds(s)),
        (_, Some(t)) => Some(parse_time(t).ok_or_else(|| {
            ApiError::bad_request(format!("sinceTime: Invalid value: \"{t}\": not RFC 3339"))
        })?),
        _ => None,
    };
    Ok(Options {
        container: container(pod, call.param("container"))?,
        tail,
        since,
        timestamps: call.flag("timestamps"),
        limit,
        follow: call.flag("follow"),
    })
}

/// What `container` of `pod` logged: the serial console for KubeVirt's `guest-console-log`
/// (the world knows the guest), virt-launcher's own lines otherwise. virt-tail copies the
/// serial log as it grows, so its lines carry the time the container started. A follower
/// gets `complete` lines only: a line still being printed comes once it ends.
fn log_lines(state: &ApiState, pod: &Value, container: &str, complete: bool) -> Vec<LogLine> {
    if container != serial_log::CONTAINER {
        return launcher_log::lines(&state.store, pod, container);
    }
    let text = state
        .world
        .serial_log(&state.store, pod)
        .unwrap_or_default();
    let text = match complete {
        true => &text[..text.rfind('\n').map_or(0, |end| end + 1)],
        false => &text[..],
    };
    let started = obj::str_at(pod, "/status/startTime");
    text.lines()
        .map(|line| LogLine {
            timestamp: started.to_string(),
            text: line.trim_end_matches('\r').to_string(),
        })
        .collect()
}

/// The lines of `now` a follower has not had. The serial log only grows, and repeats lines
/// (prompts, kernel messages), so its new lines are those past the ones seen; the launcher's
/// lines are told apart by their times.
fn fresh<'a>(container: &str, seen: &[LogLine], now: &'a [LogLine]) -> Vec<&'a LogLine> {
    match container == serial_log::CONTAINER {
        true => now.iter().skip(seen.len()).collect(),
        false => now.iter().filter(|l| !seen.contains(l)).collect(),
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("PodLogOptions is invalid: {message}"),
    )
}

fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// kubernetes v1.32 pkg/registry/core/pod/strategy.go `validateContainer`.
fn container(pod: &Value, asked: Option<&str>) -> ApiResult<String> {
    let names = |key: &str| -> Vec<String> {
        pod["spec"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(String::from))
            .collect()
    };
    let containers = names("containers");
    let mut all = names("initContainers");
    all.extend(containers.iter().cloned());
    let name = obj::name(pod);
    match asked {
        Some(c) if all.iter().any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None if containers.is_empty() => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}"
        ))),
        None => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            all.join(" ")
        ))),
    }
}

/// What the kubelet answers instead of a log (kubernetes v1.32 pkg/kubelet/kubelet_pods.go
/// `validateContainerLogStatus`): a container not started yet, or no previous instance.
fn kubelet_refusal(pod: &Value, options: &Options, previous: bool) -> ApiResult<()> {
    let (name, container) = (obj::name(pod), &options.container);
    if previous {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    let waiting = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container.as_str())
        .map(|c| obj::str_at(c, "/state/waiting/reason").to_string());
    let pending = obj::str_at(pod, "/status/phase") == "Pending";
    match waiting {
        Some(reason) if !reason.is_empty() => Err(waiting_error(container, name, &reason)),
        None if pending => Err(waiting_error(container, name, "ContainerCreating")),
        _ => Ok(()),
    }
}

fn waiting_error(container: &str, pod: &str, reason: &str) -> ApiError {
    ApiError::bad_request(format!(
        "container \"{container}\" in pod \"{pod}\" is waiting to start: {reason}"
    ))
}

fn terminated(pod: &Value) -> bool {
    matches!(obj::str_at(pod, "/status/phase"), "Succeeded" | "Failed")
}

/// The lines `sinceSeconds`/`sinceTime` and `tailLines` keep.
fn select<'a>(lines: &'a [LogLine], options: &Options) -> Vec<&'a LogLine> {
    let recent: Vec<&LogLine> = lines
        .iter()
        .filter(|l| match (options.since, parse_time(&l.timestamp)) {
            (Some(since), Some(at)) => at >= since,
            _ => true,
        })
        .collect();
    let skip = options.tail.map_or(0, |n| recent.len().saturating_sub(n));
    recent[skip..].to_vec()
}

/// The lines as the kubelet streams them: with `timestamps`, each prefixed with its time in
/// RFC 3339 with nanoseconds; cut at `limitBytes`.
fn render(lines: &[&LogLine], options: &Options) -> String {
    let mut out = String::new();
    for l in lines {
        if options.timestamps {
            let at = parse_time(&l.timestamp).unwrap_or_default();
            out.push_str(&at.format("%Y-%m-%dT%H:%M:%S%.9fZ ").to_string());
        }
        out.push_str(&l.text);
        out.push('\n');
    }
    if let Some(limit) = options.limit {
        let mut cut = limit.min(out.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

fn text_response(body: Bytes) -> Response {
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(body))
        .expect("static headers are valid")
}

/// `follow=true`: the log so far, then each new line as the state that writes it changes (or,
/// for the serial log, as the guest prints), until the container stops (the pod finishes or
/// goes), the client leaves, or the store disconnects its watchers.
fn follow(
    state: &Arc<ApiState>,
    pod: Arc<Value>,
    options: Options,
    seen: Vec<LogLine>,
    first: String,
) -> ApiResult<Response> {
    let (ns, name) = (
        obj::namespace(&pod).to_string(),
        obj::name(&pod).to_string(),
    );
    let filter = WatchFilter {
        kind: kinds::PODS,
        namespace: Some(ns.clone()),
        selectors: Default::default(),
    };
    let mut sub = state.store.subscribe(filter, WatchStart::Snapshot)?;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let state = state.clone();
    let store = state.store.clone();
    tokio::spawn(async move {
        if tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        let mut seen = seen;
        let mut pod = pod;
        loop {
            // Listening before reading: what is printed in between wakes the next round.
            let grown = match options.container == serial_log::CONTAINER {
                true => state.world.serial_log_grown(&store, &pod),
                false => Box::pin(std::future::pending()),
            };
            let now = log_lines(&state, &pod, &options.container, true);
            let fresh = fresh(&options.container, &seen, &now);
            let text = render(
                &fresh,
                &Options {
                    limit: None,
                    tail: None,
                    since: None,
                    ..options.clone()
                },
            );
            if !text.is_empty() && tx.send(Bytes::from(text)).await.is_err() {
                return;
            }
            // A serial log that shrank is one the guest left: what was seen stays seen.
            if options.container != serial_log::CONTAINER || now.len() >= seen.len() {
                seen = now;
            }
            if terminated(&pod) {
                return;
            }
            tokio::select! {
                _ = tx.closed() => return,
                _ = sub.disconnect.changed() => return,
                received = sub.live.recv() => if received.is_err() { return },
                _ = grown => {}
            }
            let Some(current) = store.get(kinds::PODS, &ns, &name) else {
                return;
            };
            pod = current;
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok(Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(stream))
        .expect("static headers are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str]) -> Value {
        let cs: Vec<Value> = containers.iter().map(|c| json!({"name": c})).collect();
        json!({"metadata": {"name": "p"}, "spec": {"containers": cs}})
    }

    #[test]
    fn the_container_is_the_only_one_or_must_be_named_and_valid() {
        assert_eq!(container(&pod(&["compute"]), None).unwrap(), "compute");
        let two = pod(&["compute", "sidecar"]);
        let e = container(&two, None).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                400,
                "a container name must be specified for pod p, choose one of: [compute sidecar]"
            )
        );
        let e = container(&two, Some("guest-console-log")).unwrap_err();
        assert_eq!(
            e.message,
            "container guest-console-log is not valid for pod p"
        );
    }

    #[test]
    fn tail_timestamps_and_limit_shape_the_text() {
        let lines: Vec<LogLine> = (0..3)
            .map(|i| LogLine {
                timestamp: format!("2026-01-01T00:00:0{i}Z"),
                text: format!("line {i}"),
            })
            .collect();
        let options = Options {
            container: "compute".into(),
            tail: Some(2),
            since: None,
            timestamps: true,
            limit: None,
            follow: false,
        };
        let shown = select(&lines, &options);
        assert_eq!(
            render(&shown, &options),
            "2026-01-01T00:00:01.000000000Z line 1\n2026-01-01T00:00:02.000000000Z line 2\n"
        );
        let cut = Options {
            tail: None,
            timestamps: false,
            limit: Some(8),
            ..options
        };
        assert_eq!(render(&select(&lines, &cut), &cut), "line 0\nl");
    }
}

//! thanos-querier as the harness reaches it: through the OpenShift router, by the route's
//! host, past kube-rbac-proxy (bearer token; cluster-monitoring-operator assets/thanos-querier/
//! kube-rbac-proxy-web-secret.yaml), to Prometheus's HTTP API `GET|POST /api/v1/query`
//! (prometheus/prometheus web/api/v1/api.go `API.query`: `query` and `time` from the URL or a
//! form body, `{"status":"success","data":{"resultType":"vector",…}}`, errors as 400
//! `bad_data`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{header, Method, StatusCode};
use serde_json::{json, Value};

use super::query::{self, Element};
use super::tsdb::Tsdb;

/// What the router listener serves.
pub struct Querier {
    pub tsdb: Arc<Tsdb>,
    /// The bearer token kube-rbac-proxy accepts (the cluster's).
    pub token: String,
    /// The thanos-querier route's host and path prefix.
    pub host: String,
    pub path: &'static str,
}

pub fn router(querier: Arc<Querier>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(querier)
}

async fn handle(State(q): State<Arc<Querier>>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name));
    // The router answers a host or path no route admits with its own 503 page.
    if host != Some(q.host.as_str()) || !req.uri().path().starts_with(q.path) {
        return text(
            503,
            "Application is not available: no route serves this host and path\n",
        );
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(q.token.as_str()) {
        return text(401, "Unauthorized\n");
    }
    if req.uri().path() != "/api/v1/query" {
        return text(404, "404 page not found\n");
    }
    if req.method() != Method::GET && req.method() != Method::POST {
        return text(405, "Method Not Allowed\n");
    }
    let mut params: HashMap<String, String> = form(req.uri().query().unwrap_or(""));
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await;
    params.extend(form(&String::from_utf8_lossy(&body.unwrap_or_default())));
    answer(&q.tsdb, &params)
}

fn form(encoded: &str) -> HashMap<String, String> {
    form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect()
}

/// The API's answer to an instant query with `params`.
fn answer(tsdb: &Tsdb, params: &HashMap<String, String>) -> Response {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let t_ms = match params.get("time").filter(|t| !t.is_empty()) {
        None => now_ms,
        Some(t) => match parse_time(t) {
            Some(ms) => ms,
            None => {
                let message = format!(
                    "invalid parameter \"time\": cannot parse \"{t}\" to a valid timestamp"
                );
                return bad_data(&message);
            }
        },
    };
    let query = params.get("query").map_or("", String::as_str);
    match query::instant(tsdb, query, t_ms) {
        Ok(elements) => success(&elements, t_ms),
        Err(message) => bad_data(&message),
    }
}

/// web/api/v1/api.go parseTime: Unix seconds with a fraction, or RFC 3339.
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(secs) = text.parse::<f64>() {
        return secs.is_finite().then(|| (secs * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn success(elements: &[Element], t_ms: i64) -> Response {
    let at = t_ms as f64 / 1000.0;
    let result: Vec<Value> = elements
        .iter()
        .map(|e| json!({"metric": e.metric, "value": [at, format_value(e.value)]}))
        .collect();
    let body = json!({"status": "success", "data": {"resultType": "vector", "result": result}});
    json_response(200, &body)
}

/// Sample values travel as strings, formatted as Go's strconv.FormatFloat(v, 'f', -1, 64).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn bad_data(message: &str) -> Response {
    let body = json!({"status": "error", "errorType": "bad_data", "error": message});
    json_response(400, &body)
}

fn json_response(code: u16, body: &Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("static headers are valid")
}

fn text(code: u16, body: &'static str) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(body))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_unix_seconds_or_rfc3339() {
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000_500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(1700000000.5), "1700000000.5");
    }
}

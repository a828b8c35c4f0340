//! Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), where the simulator
//! meets it: kubectl 1.32's generators (`kubectl create namespace|configmap|secret|
//! serviceaccount`) send their object as protobuf, and its typed clients their DeleteOptions
//! (`kubectl drain --disable-eviction`), accepting protobuf or JSON back. vstp-sim
//! reads those bodies into the JSON it stores and always answers JSON; a client that accepts
//! protobuf only gets 406.

mod convert;

use http::{header, HeaderMap};
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::kinds;

pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// apimachinery v1.33 pkg/runtime/serializer/protobuf/protobuf.go protoEncodingPrefix: "k8s"
/// and the encoding style 0 (a runtime.Unknown follows).
const PREFIX: [u8; 4] = [0x6b, 0x38, 0x73, 0x00];

/// The kinds whose protobuf bodies vstp-sim reads: those kubectl's generators send, and the
/// bodies of deletes and evictions from typed clients.
const DECODED: &str = "Namespace, ConfigMap, Secret, ServiceAccount, DeleteOptions and Eviction";

pub fn is_protobuf(content_type: &str) -> bool {
    content_type == MEDIA_TYPE
}

/// A protobuf request body as the JSON object the store keeps.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let unknown = envelope(body)
        .map_err(|e| ApiError::bad_request(format!("the object provided is unrecognized: {e}")))?;
    let Unknown { type_meta, raw, .. } = unknown;
    let TypeMeta { api_version, kind } = type_meta.unwrap_or_default();
    let (api_version, kind) = (api_version.unwrap_or_default(), kind.unwrap_or_default());
    // apimachinery runtime/error.go NewMissingKindErr, NewMissingVersionErr. Upstream first
    // fills them from the URL's kind (protobuf.go copyKindDefaults); client-go always sends both.
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in the protobuf envelope (apiVersion {api_version:?})"
        )));
    }
    if api_version.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'apiVersion' is missing in the protobuf envelope (kind {kind})"
        )));
    }
    let raw = raw.unwrap_or_default();
    let object = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => to_json(&raw, convert::namespace),
        ("v1", "ConfigMap") => to_json(&raw, convert::config_map),
        ("v1", "Secret") => to_json(&raw, convert::secret),
        ("v1", "ServiceAccount") => to_json(&raw, convert::service_account),
        ("policy/v1", "Eviction") => to_json(&raw, convert::eviction),
        // Registered in every group version, as the body of any delete.
        (_, "DeleteOptions") => to_json(&raw, convert::delete_options).map(|mut options| {
            options["apiVersion"] = Value::from(api_version.as_str());
            options["kind"] = Value::from("DeleteOptions");
            options
        }),
        _ => return Err(undecoded(&api_version, &kind)),
    };
    // apiserver v1.33 pkg/endpoints/handlers/rest.go transformDecodeError
    object.map_err(|e| {
        let version = api_version.rsplit('/').next().unwrap_or_default();
        ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}"
        ))
    })
}

/// The `runtime.Unknown` after the prefix, with protobuf.go `Serializer.Decode`'s errors.
fn envelope(body: &[u8]) -> Result<Unknown, String> {
    match body.strip_prefix(&PREFIX) {
        _ if body.is_empty() => Err("empty data".into()),
        None => Err(format!(
            "provided data does not appear to be a protobuf message, expected prefix {PREFIX:?}"
        )),
        Some([]) => Err("empty body".into()),
        Some(message) => Unknown::decode(message).map_err(|e| e.to_string()),
    }
}

fn to_json<P, J>(raw: &[u8], convert: fn(P) -> convert::Converted<J>) -> Result<Value, String>
where
    P: Message + Default,
    J: serde::Serialize,
{
    let message = P::decode(raw).map_err(|e| e.to_string())?;
    serde_json::to_value(convert(message)?).map_err(|e| e.to_string())
}

/// 415 for a kind vstp-sim does not read from protobuf. Custom resources have no protobuf
/// encoding upstream either (apiextensions-apiserver serves JSON and YAML); for a built-in kind
/// the refusal is the simulator's, and says so.
fn undecoded(api_version: &str, kind: &str) -> ApiError {
    let (group, _) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let builtin = kinds::by_kind(group, kind).map(|id| kinds::get(id).builtin);
    let why = match builtin {
        Some(false) => format!("{kind} ({api_version}) is a custom resource, which has no protobuf encoding"),
        _ => format!(
            "vstp-sim reads protobuf bodies of {DECODED} (what kubectl sends), not {kind} ({api_version}); \
             send it as application/json (`kubectl apply -f`, or client-go with ContentType \"application/json\")"
        ),
    };
    ApiError::unsupported_media_type(format!(
        "the body of the request was in an unknown format - accepted media types include: \
         application/json, application/yaml ({why})"
    ))
}

/// 406 when the client accepts protobuf and nothing else (apimachinery v1.33
/// pkg/runtime/serializer/negotiation errors.go errNotAcceptable): vstp-sim writes JSON only.
/// kubectl and client-go always list application/json after protobuf, and get JSON.
pub fn unacceptable(headers: &HeaderMap) -> Option<ApiError> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    let mut ranges = accept
        .split(',')
        .map(|range| range.split(';').next().unwrap_or_default().trim())
        .filter(|range| !range.is_empty())
        .peekable();
    ranges.peek()?;
    if !ranges.all(|range| range == MEDIA_TYPE) {
        return None;
    }
    Some(ApiError::new(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json \
         (vstp-sim does not write protobuf; ask with Accept: application/json)",
    ))
}

#[cfg(test)]
mod tests;

//! Content negotiation of responses: which representation of the addressed objects the client
//! asked for in `Accept`. kubectl get asks for a server-side Table
//! (`application/json;as=Table;v=v1;g=meta.k8s.io`, then the v1beta1 form, then plain JSON);
//! everything else gets the objects themselves.

use http::{header, HeaderMap};

use super::Call;
use crate::error::{ApiError, ApiResult};

/// What a read answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// The object or list itself.
    Object,
    /// A `meta.k8s.io` Table of the object or list.
    Table(TableRequest),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRequest {
    /// `v1` or `v1beta1` of `meta.k8s.io`.
    pub version: &'static str,
    pub include: IncludeObject,
    pub no_headers: bool,
}

/// What each row carries besides its cells (`TableOptions.includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

const TABLE_VERSIONS: &[&str] = &["v1", "v1beta1"];

/// The representation a GET, LIST or watch answers with: the first media range of `Accept`
/// this server produces, as kube-apiserver's
/// k8s.io/apiserver pkg/endpoints/handlers/negotiation/negotiate.go `NegotiateOutputMediaType`
/// picks it. Media ranges it does not produce are skipped; with none left, plain JSON.
pub fn negotiate(call: &Call) -> ApiResult<Representation> {
    for range in accept_ranges(&call.headers) {
        match media_range(&range) {
            Some(Representation::Table(_)) => return table_request(call),
            Some(Representation::Object) => return Ok(Representation::Object),
            None => continue,
        }
    }
    Ok(Representation::Object)
}

fn accept_ranges(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect()
}

/// One media range: JSON (or a wildcard) as the object, JSON `as=Table` of meta.k8s.io v1 or
/// v1beta1 as a Table, anything else (protobuf, YAML, `as=PartialObjectMetadata`) `None`.
fn media_range(range: &str) -> Option<Representation> {
    let mut parts = range.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    let params: Vec<(&str, &str)> = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
        .collect();
    let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    if !matches!(media, "application/json" | "application/*" | "*/*") {
        return None;
    }
    match param("as") {
        None => Some(Representation::Object),
        Some("Table") => {
            let version = param("v")?;
            let version = TABLE_VERSIONS.iter().find(|v| **v == version)?;
            (param("g") == Some("meta.k8s.io")).then_some(Representation::Table(TableRequest {
                version,
                include: IncludeObject::Metadata,
                no_headers: false,
            }))
        }
        Some(_) => None,
    }
}

/// The Table the first acceptable range names, with the request's `TableOptions`.
fn table_request(call: &Call) -> ApiResult<Representation> {
    let first_table = accept_ranges(&call.headers)
        .iter()
        .find_map(|r| match media_range(r) {
            Some(Representation::Table(t)) => Some(t),
            _ => None,
        })
        .expect("negotiate found a Table range");
    let include = match call.param("includeObject") {
        None | Some("Metadata") => IncludeObject::Metadata,
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "includeObject: Unsupported value: \"{other}\": supported values: \"Metadata\", \"None\", \"Object\""
            )))
        }
    };
    Ok(Representation::Table(TableRequest {
        include,
        no_headers: call.flag("noHeaders"),
        ..first_table
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn call(accept: &str, query: &[(&str, &str)]) -> Call {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept.parse().unwrap());
        Call {
            method: http::Method::GET,
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            headers,
            body: bytes::Bytes::new(),
        }
    }

    const KUBECTL_GET: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    #[test]
    fn kubectl_get_gets_a_v1_table_with_metadata_rows() {
        let Representation::Table(t) = negotiate(&call(KUBECTL_GET, &[])).unwrap() else {
            panic!("a Table")
        };
        assert_eq!((t.version, t.include), ("v1", IncludeObject::Metadata));
        let sorted = negotiate(&call(KUBECTL_GET, &[("includeObject", "Object")])).unwrap();
        assert!(matches!(sorted, Representation::Table(t) if t.include == IncludeObject::Object));
    }

    #[test]
    fn the_first_range_served_wins() {
        let beta = "application/json;as=Table;v=v2;g=meta.k8s.io, application/json;as=Table;v=v1beta1;g=meta.k8s.io";
        assert!(matches!(
            negotiate(&call(beta, &[])).unwrap(),
            Representation::Table(t) if t.version == "v1beta1"
        ));
        let json_first = "application/json, application/json;as=Table;v=v1;g=meta.k8s.io";
        assert_eq!(
            negotiate(&call(json_first, &[])).unwrap(),
            Representation::Object
        );
        let partial = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io";
        assert_eq!(
            negotiate(&call(partial, &[])).unwrap(),
            Representation::Object
        );
    }

    #[test]
    fn an_unknown_include_object_is_refused() {
        let e = negotiate(&call(KUBECTL_GET, &[("includeObject", "All")])).unwrap_err();
        assert_eq!(e.code, 400);
    }
}

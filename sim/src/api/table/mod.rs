//! Server-side printing: the `meta.k8s.io` Table kubectl get asks for, with the columns
//! kube-apiserver serves for each kind (built-in printers for core kinds, the CRDs'
//! `additionalPrinterColumns` for custom resources).

mod age;
mod builtin;
pub mod crd;
mod jsonpath;
mod pod;

use chrono::Utc;
use serde_json::{json, Value};

use super::accept::{self, IncludeObject, Representation, TableRequest};
use super::Call;
use crate::error::ApiResult;
use crate::kinds::{self, Kind, KindId};

/// One `TableColumnDefinition`.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    pub ty: &'static str,
    pub format: &'static str,
    pub priority: i64,
    pub description: &'static str,
}

impl Column {
    /// The Name column every kind starts with (events put it last).
    pub const fn name() -> Column {
        Column {
            name: "Name",
            ty: "string",
            format: "name",
            priority: 0,
            description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
        }
    }

    fn to_json(&self) -> Value {
        json!({"name": self.name, "type": self.ty, "format": self.format,
               "description": self.description, "priority": self.priority})
    }
}

/// One `TableRow` before its object is attached.
pub struct Row {
    pub cells: Vec<Value>,
    /// `conditions` of the row (a finished pod is `Completed`).
    pub conditions: Option<Value>,
}

pub fn columns(kind_id: KindId) -> Vec<Column> {
    let kind = kinds::get(kind_id);
    builtin::columns(kind_id).unwrap_or_else(|| crd::columns(kind))
}

fn row(kind_id: KindId, kind: &Kind, object: &Value) -> Row {
    let now = Utc::now();
    if kind.builtin {
        builtin::row(kind_id, object, now)
    } else {
        crd::row(kind, object, now)
    }
}

/// The Table of `objects` (as the API shows them). `list_meta` is the list's metadata
/// (resourceVersion, continue) or, for one object, its resourceVersion.
pub fn table(
    kind_id: KindId,
    objects: &[Value],
    list_meta: Value,
    request: &TableRequest,
    headers: bool,
) -> Value {
    let kind = kinds::get(kind_id);
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| row_json(kind_id, kind, o, request))
        .collect();
    let columns: Vec<Value> = if headers && !request.no_headers {
        columns(kind_id).iter().map(Column::to_json).collect()
    } else {
        Vec::new()
    };
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{}", request.version),
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The body of a read (`body`: one object or a list of `kind`, as the API shows them) in the
/// representation the client negotiated.
pub fn represent(call: &Call, kind: KindId, body: Value) -> ApiResult<Value> {
    let Representation::Table(request) = accept::negotiate(call)? else {
        return Ok(body);
    };
    Ok(match body["items"].as_array() {
        Some(items) => table(kind, items, body["metadata"].clone(), &request, true),
        None => {
            let meta = json!({"resourceVersion": body["metadata"]["resourceVersion"]});
            table(kind, std::slice::from_ref(&body), meta, &request, true)
        }
    })
}

fn row_json(kind_id: KindId, kind: &Kind, object: &Value, request: &TableRequest) -> Value {
    let Row { cells, conditions } = row(kind_id, kind, object);
    let mut out = json!({ "cells": cells });
    if let Some(c) = conditions {
        out["conditions"] = c;
    }
    match request.include {
        IncludeObject::None => {}
        IncludeObject::Object => out["object"] = object.clone(),
        IncludeObject::Metadata => {
            out["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": format!("meta.k8s.io/{}", request.version),
                "metadata": object["metadata"],
            })
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_table_carries_columns_rows_and_row_metadata() {
        let request = TableRequest {
            version: "v1",
            include: IncludeObject::Metadata,
            no_headers: false,
        };
        let vm = json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": "vm1", "namespace": "default"},
            "status": {"printableStatus": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        let t = table(
            kinds::VMS,
            &[vm],
            json!({"resourceVersion": "7"}),
            &request,
            true,
        );
        let names: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Age", "Status", "Ready"]);
        assert_eq!(t["rows"][0]["cells"][2], "Running");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "default");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
    }
}

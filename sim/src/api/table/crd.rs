//! Custom resources' Tables: the CRD's `additionalPrinterColumns` of the served version,
//! evaluated as k8s.io/apiextensions-apiserver pkg/registry/customresource/tableconvertor/
//! tableconvertor.go `convertor.ConvertToTable` does, after a Name column; a CRD that declares
//! none gets Age (pkg/apiserver/customresource_handler.go `serveDefaultColumnsIfEmpty`).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age, jsonpath, Column, Row};
use crate::kinds::Kind;

/// One `CustomResourceColumnDefinition`.
pub struct PrinterColumn {
    pub name: &'static str,
    /// `string`, `date`, `integer`, `number` or `boolean`.
    pub ty: &'static str,
    pub json_path: &'static str,
    pub priority: i64,
    pub description: &'static str,
}

const fn col(name: &'static str, ty: &'static str, json_path: &'static str) -> PrinterColumn {
    PrinterColumn {
        name,
        ty,
        json_path,
        priority: 0,
        description: "",
    }
}

const fn wide(column: PrinterColumn) -> PrinterColumn {
    PrinterColumn {
        priority: 1,
        ..column
    }
}

const fn described(column: PrinterColumn, description: &'static str) -> PrinterColumn {
    PrinterColumn {
        description,
        ..column
    }
}

const AGE: PrinterColumn = col("Age", "date", ".metadata.creationTimestamp");
const PHASE: PrinterColumn = col("Phase", "string", ".status.phase");
const READY: PrinterColumn = col(
    "Ready",
    "string",
    ".status.conditions[?(@.type=='Ready')].status",
);

/// kubevirt v1.9.0 pkg/virt-operator/resource/generate/components/crds.go
/// `NewVirtualMachineInstanceCrd`.
const VMI: &[PrinterColumn] = &[
    AGE,
    PHASE,
    col("IP", "string", ".status.interfaces[0].ipAddress"),
    col("NodeName", "string", ".status.nodeName"),
    READY,
    wide(col(
        "Live-Migratable",
        "string",
        ".status.conditions[?(@.type=='LiveMigratable')].status",
    )),
    wide(col(
        "Paused",
        "string",
        ".status.conditions[?(@.type=='Paused')].status",
    )),
];

/// containerized-data-importer staging/.../core/v1beta1/types.go, DataVolume's
/// `+kubebuilder:printcolumn` markers.
const DATA_VOLUME: &[PrinterColumn] = &[
    described(PHASE, "The phase the data volume is in"),
    described(
        col("Progress", "string", ".status.progress"),
        "Transfer progress in percentage if known, N/A otherwise",
    ),
    described(
        col("Restarts", "integer", ".status.restartCount"),
        "The number of times the transfer has been restarted.",
    ),
    AGE,
];

/// kubevirt v1.9.0 crds.go `NewVirtualMachineCrd`.
const VM: &[PrinterColumn] = &[
    AGE,
    described(
        col("Status", "string", ".status.printableStatus"),
        "Human Readable Status",
    ),
    READY,
];

/// kubevirt v1.9.0 crds.go `NewVirtualMachineInstanceMigrationCrd` (no Age column).
const VMIM: &[PrinterColumn] = &[
    described(PHASE, "The current phase of VM instance migration"),
    described(
        col("VMI", "string", ".spec.vmiName"),
        "The name of the VMI to perform the migration on",
    ),
];

/// kubevirt v1.9.0 crds.go `NewKubeVirtCrd`.
const KUBEVIRT: &[PrinterColumn] = &[AGE, PHASE];

/// A kubernetes-nmstate printcolumn marker: its description is its name.
const fn nmstate_col(
    name: &'static str,
    ty: &'static str,
    json_path: &'static str,
) -> PrinterColumn {
    described(col(name, ty, json_path), name)
}

/// The type of the condition that is True, first column of both nmstate kinds.
const NMSTATE_STATUS: PrinterColumn = nmstate_col(
    "Status",
    "string",
    r#".status.conditions[?(@.status=="True")].type"#,
);

/// The reason of the condition that is True, last column of both nmstate kinds.
const NMSTATE_REASON: PrinterColumn = nmstate_col(
    "Reason",
    "string",
    r#".status.conditions[?(@.status=="True")].reason"#,
);

/// kubernetes-nmstate api/v1/nodenetworkconfigurationpolicy_types.go (and v1beta1) printcolumn
/// markers.
const NNCP: &[PrinterColumn] = &[NMSTATE_STATUS, NMSTATE_REASON];

/// kubernetes-nmstate api/v1beta1/nodenetworkconfigurationenactment_types.go printcolumn
/// markers.
const NNCE: &[PrinterColumn] = &[
    NMSTATE_STATUS,
    nmstate_col(
        "Status Age",
        "date",
        r#".status.conditions[?(@.status=="True")].lastTransitionTime"#,
    ),
    NMSTATE_REASON,
];

/// The default of a CRD without columns (MigrationPolicy, NodeNetworkState, the
/// NetworkAttachmentDefinition, IPAMClaim, OVN-K's UserDefinedNetwork and
/// ClusterUserDefinedNetwork: go-controller/pkg/crd/userdefinednetwork/v1 declares none).
const DEFAULT: &[PrinterColumn] = &[described(
    AGE,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
)];

/// The printer columns `kind`'s CRD declares.
pub fn declared(kind: &Kind) -> &'static [PrinterColumn] {
    match (kind.group, kind.plural) {
        ("kubevirt.io", "virtualmachineinstances") => VMI,
        ("kubevirt.io", "virtualmachines") => VM,
        ("kubevirt.io", "virtualmachineinstancemigrations") => VMIM,
        ("kubevirt.io", "kubevirts") => KUBEVIRT,
        ("nmstate.io", "nodenetworkconfigurationpolicies") => NNCP,
        ("nmstate.io", "nodenetworkconfigurationenactments") => NNCE,
        ("cdi.kubevirt.io", "datavolumes") => DATA_VOLUME,
        _ => DEFAULT,
    }
}

pub fn columns(kind: &Kind) -> Vec<Column> {
    let mut out = vec![Column::name()];
    out.extend(declared(kind).iter().map(|c| Column {
        name: c.name,
        ty: c.ty,
        format: "",
        priority: c.priority,
        description: if c.description.is_empty() {
            "Custom resource definition column (in JSONPath format)"
        } else {
            c.description
        },
    }));
    out
}

pub fn row(kind: &Kind, object: &Value, now: DateTime<Utc>) -> Row {
    let mut cells = vec![object["metadata"]["name"].clone()];
    for c in declared(kind) {
        cells.push(cell(c, object, now));
    }
    Row {
        cells,
        conditions: None,
    }
}

/// One cell: the first value the path finds, typed by the column (`cellForJSONValue`); a
/// string column prints any value (`PrintResults`); nothing found is a null cell.
fn cell(column: &PrinterColumn, object: &Value, now: DateTime<Utc>) -> Value {
    let steps = match jsonpath::parse(column.json_path) {
        Ok(steps) => steps,
        Err(_) => return Value::Null,
    };
    let Some(value) = jsonpath::find(&steps, object).into_iter().next() else {
        return Value::Null;
    };
    match (column.ty, value) {
        (_, Value::Null) => Value::Null,
        ("string", Value::String(s)) => json!(s),
        ("string", other) => json!(other.to_string()),
        ("integer", Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map_or(Value::Null, |i| json!(i)),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, |f| json!(f)),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => match age::parse(s) {
            Some(_) => json!(age::since(value, now)),
            None => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds;

    #[test]
    fn every_declared_path_parses() {
        for kind in kinds::KINDS.iter().filter(|k| !k.builtin) {
            for c in declared(kind) {
                assert!(jsonpath::parse(c.json_path).is_ok(), "{}", c.json_path);
            }
        }
    }

    #[test]
    fn a_data_volume_row_shows_phase_progress_and_restarts() {
        let now = Utc::now();
        let created = (now - chrono::Duration::seconds(9)).to_rfc3339();
        let dv = json!({"metadata": {"name": "root", "creationTimestamp": created},
            "status": {"phase": "CloneInProgress", "progress": "25.00%"}});
        let r = row(kinds::get(kinds::DATAVOLUMES), &dv, now);
        let cells = [
            json!("root"),
            json!("CloneInProgress"),
            json!("25.00%"),
            Value::Null,
            json!("9s"),
        ];
        assert_eq!(r.cells, cells);
    }

    #[test]
    fn a_vmi_row_reads_its_declared_columns() {
        let now = Utc::now();
        let vmi = json!({"metadata": {"name": "vm1", "creationTimestamp": (now - chrono::Duration::seconds(75)).to_rfc3339()},
            "status": {"phase": "Running", "nodeName": "worker-1",
                "interfaces": [{"ipAddress": "10.128.0.7"}],
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "LiveMigratable", "status": "False"}]}});
        let r = row(kinds::get(kinds::VMIS), &vmi, now);
        assert_eq!(
            r.cells,
            vec![
                json!("vm1"),
                json!("75s"),
                json!("Running"),
                json!("10.128.0.7"),
                json!("worker-1"),
                json!("True"),
                json!("False"),
                Value::Null
            ]
        );
    }
}

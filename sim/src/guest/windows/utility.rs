//! Select-Object, ConvertTo-Json, Out-Null, Write-Output (Microsoft.PowerShell.Commands.Utility
//! and the engine's Out-Null, PowerShell 5.1).

use super::bind::{ints, strings, switch, value, Bound, Cmdlet};
use super::errors::PsError;
use super::session::{Session, Written};
use super::value::{to_json, V};

pub const SELECT: Cmdlet = Cmdlet {
    name: "Select-Object",
    class: "SelectObjectCommand",
    params: &[
        value("Property", "System.Object[]", Some(0)),
        value("ExpandProperty", "System.String", None),
        value("First", "System.Int32", None),
        value("Last", "System.Int32", None),
        value("InputObject", "System.Management.Automation.PSObject", None),
    ],
};

pub const JSON: Cmdlet = Cmdlet {
    name: "ConvertTo-Json",
    class: "ConvertToJsonCommand",
    params: &[
        value("InputObject", "System.Object", Some(0)),
        value("Depth", "System.Int32", None),
        switch("Compress"),
    ],
};

pub const NULL: Cmdlet = Cmdlet {
    name: "Out-Null",
    class: "OutNullCommand",
    params: &[value(
        "InputObject",
        "System.Management.Automation.PSObject",
        None,
    )],
};

pub const WRITE: Cmdlet = Cmdlet {
    name: "Write-Output",
    class: "WriteOutputCommand",
    params: &[
        value(
            "InputObject",
            "System.Management.Automation.PSObject[]",
            Some(0),
        ),
        switch("NoEnumerate"),
    ],
};

/// The pipeline input, or `-InputObject` when given.
fn input_of(b: &Bound, input: Vec<V>) -> Vec<V> {
    match b.get("InputObject") {
        Some(V::List(items)) => items.clone(),
        Some(one) => vec![one.clone()],
        None => input,
    }
}

pub fn select(_s: &mut Session, b: &Bound, input: Vec<V>) -> Result<Written, PsError> {
    let mut items = input_of(b, input);
    if let Some(n) = b.get("First") {
        let n = ints(&SELECT, "First", n, b.span("First"))?
            .first()
            .copied()
            .unwrap_or(0);
        items.truncate(n.max(0) as usize);
    }
    if let Some(n) = b.get("Last") {
        let n = ints(&SELECT, "Last", n, b.span("Last"))?
            .first()
            .copied()
            .unwrap_or(0);
        items = items.split_off(items.len().saturating_sub(n.max(0) as usize));
    }
    if let Some(name) = b.get("ExpandProperty").map(V::text) {
        return expand(items, &name);
    }
    let Some(names) = b.get("Property").map(strings) else {
        return Ok(Written::items(items));
    };
    // Each named property is looked up on the object and keeps the object's spelling
    // (SelectObjectCommand resolves names with PSPropertyExpression.ResolveNames).
    let picked = items
        .iter()
        .map(|item| {
            V::Obj(
                names
                    .iter()
                    .map(|n| match item.prop(n) {
                        Some((k, v)) => (k.to_string(), v.clone()),
                        None => (n.clone(), V::Null),
                    })
                    .collect(),
            )
        })
        .collect();
    Ok(Written::items(picked))
}

/// `-ExpandProperty`: the property's value itself; a missing one is an error per object.
fn expand(items: Vec<V>, name: &str) -> Result<Written, PsError> {
    let mut out = Written::default();
    for item in items {
        match item.prop(name) {
            Some((_, V::List(values))) => out.items.extend(values.iter().cloned()),
            Some((_, v)) => out.items.push(v.clone()),
            None => out.errors.push(PsError {
                command: SELECT.name.into(),
                message: format!("Property \"{name}\" cannot be found."),
                category: "InvalidArgument: (:PSObject) [Select-Object], PSArgumentException"
                    .into(),
                id: "ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand"
                    .into(),
                at: Default::default(),
                aborts_script: false,
            }),
        }
    }
    Ok(out)
}

/// One JSON document of everything that came down the pipeline (none: no output).
pub fn json(_s: &mut Session, b: &Bound, input: Vec<V>) -> Result<Written, PsError> {
    let items = input_of(b, input);
    if items.is_empty() {
        return Ok(Written::default());
    }
    Ok(Written::items(vec![V::Str(to_json(
        &items,
        b.flag("Compress"),
    ))]))
}

pub fn null(_s: &mut Session, _b: &Bound, _input: Vec<V>) -> Result<Written, PsError> {
    Ok(Written::default())
}

pub fn write(_s: &mut Session, b: &Bound, input: Vec<V>) -> Result<Written, PsError> {
    Ok(Written::items(input_of(b, input)))
}

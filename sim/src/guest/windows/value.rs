//! What flows through a pipeline: .NET values and objects with ordered, case-insensitively
//! named properties, and how PowerShell 5.1 writes them: `ConvertTo-Json` and the default
//! `Out-Default` view.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Date(DateTime<Utc>),
    /// An array (`'a','b'`); a pipeline enumerates it.
    List(Vec<V>),
    Obj(Vec<(String, V)>),
}

impl V {
    /// A property by name, PowerShell-style: case-insensitive; `$null` when absent.
    pub fn prop(&self, name: &str) -> Option<(&str, &V)> {
        match self {
            V::Obj(props) => props
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(k, v)| (k.as_str(), v)),
            _ => None,
        }
    }

    /// How the value prints as a string (`ToString()` in the invariant forms used here).
    pub fn text(&self) -> String {
        match self {
            V::Null => String::new(),
            V::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            V::Int(n) => n.to_string(),
            V::Str(s) => s.clone(),
            // en-US DateTime.ToString(): the default culture of Windows Server images.
            V::Date(d) => d.format("%-m/%-d/%Y %-I:%M:%S %p").to_string(),
            V::List(items) => items.iter().map(V::text).collect::<Vec<_>>().join(" "),
            V::Obj(_) => String::new(),
        }
    }

    /// .NET's round-trip ("o") format: seven fractional digits (ticks), which chrono's
    /// strftime cannot spell.
    pub fn round_trip(d: &DateTime<Utc>) -> String {
        let ticks = d.timestamp_subsec_nanos() / 100;
        format!("{}.{ticks:07}Z", d.format("%Y-%m-%dT%H:%M:%S"))
    }
}

/// `ConvertTo-Json` (PowerShell 5.1, Microsoft.PowerShell.Commands.Utility JsonObject):
/// four-space indents, two spaces after a colon, a lone input not wrapped in an array, dates
/// as `\/Date(ms)\/`.
pub fn to_json(items: &[V], compress: bool) -> String {
    let mut out = String::new();
    match items {
        [one] => write_json(one, 0, compress, &mut out),
        many => write_array(many, 0, compress, &mut out),
    }
    out
}

fn write_array(items: &[V], depth: usize, compress: bool, out: &mut String) {
    let nl = if compress { "" } else { "\r\n" };
    out.push('[');
    out.push_str(nl);
    for (i, item) in items.iter().enumerate() {
        out.push_str(&pad(depth + 1, compress));
        write_json(item, depth + 1, compress, out);
        out.push_str(if i + 1 < items.len() { "," } else { "" });
        out.push_str(nl);
    }
    out.push_str(&pad(depth, compress));
    out.push(']');
}

fn pad(depth: usize, compress: bool) -> String {
    if compress {
        String::new()
    } else {
        " ".repeat(4 * depth)
    }
}

fn write_json(v: &V, depth: usize, compress: bool, out: &mut String) {
    let nl = if compress { "" } else { "\r\n" };
    let colon = if compress { ":" } else { ":  " };
    match v {
        V::Null => out.push_str("null"),
        V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        V::Int(n) => out.push_str(&n.to_string()),
        V::Str(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        V::Date(d) => out.push_str(&format!("\"\\/Date({})\\/\"", d.timestamp_millis())),
        V::List(items) => write_array(items, depth, compress, out),
        V::Obj(props) => {
            out.push('{');
            out.push_str(nl);
            for (i, (k, v)) in props.iter().enumerate() {
                out.push_str(&pad(depth + 1, compress));
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(colon);
                write_json(v, depth + 1, compress, out);
                out.push_str(if i + 1 < props.len() { "," } else { "" });
                out.push_str(nl);
            }
            out.push_str(&pad(depth, compress));
            out.push('}');
        }
    }
}

/// What `Out-Default` prints for a pipeline's output: scalars one a line; objects as a table
/// when they have at most four properties, as a list otherwise (the rule PowerShell applies to
/// objects without a registered view; the views of Process, NetAdapter and CimInstance are
/// not modelled).
pub fn out_default(items: &[V]) -> String {
    let mut out = String::new();
    let objects: Vec<&Vec<(String, V)>> = items
        .iter()
        .filter_map(|v| match v {
            V::Obj(p) => Some(p),
            _ => None,
        })
        .collect();
    for v in items.iter().filter(|v| !matches!(v, V::Obj(_) | V::Null)) {
        out.push_str(&v.text());
        out.push_str("\r\n");
    }
    match objects.first() {
        None => {}
        Some(first) if first.len() <= 4 => out.push_str(&table(first, &objects)),
        Some(_) => out.push_str(&list(&objects)),
    }
    out
}

fn table(first: &[(String, V)], rows: &[&Vec<(String, V)>]) -> String {
    let names: Vec<&str> = first.iter().map(|(k, _)| k.as_str()).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| names.iter().map(|n| cell(r, n)).collect())
        .collect();
    let widths: Vec<usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            cells
                .iter()
                .map(|c| c[i].len())
                .chain([n.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |parts: Vec<String>| parts.join(" ").trim_end().to_string() + "\r\n";
    let mut out = String::from("\r\n");
    out += &line(
        names
            .iter()
            .zip(&widths)
            .map(|(n, w)| format!("{n:<w$}"))
            .collect(),
    );
    out += &line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for row in &cells {
        out += &line(
            row.iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect(),
        );
    }
    out + "\r\n\r\n"
}

fn list(rows: &[&Vec<(String, V)>]) -> String {
    let mut out = String::from("\r\n");
    for row in rows {
        let width = row.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in row.iter() {
            out += &format!("{k:<width$} : {}\r\n", v.text());
        }
        out += "\r\n";
    }
    out + "\r\n"
}

fn cell(row: &[(String, V)], name: &str) -> String {
    row.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.text())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_written_as_windows_powershell_writes_it() {
        let one = V::Obj(vec![
            ("Id".into(), V::Int(4)),
            ("ProcessName".into(), V::Str("System".into())),
        ]);
        assert_eq!(
            to_json(std::slice::from_ref(&one), false),
            "{\r\n    \"Id\":  4,\r\n    \"ProcessName\":  \"System\"\r\n}"
        );
        let two = to_json(&[one.clone(), one], false);
        assert!(
            two.starts_with("[\r\n    {\r\n        \"Id\":  4,"),
            "{two}"
        );
        assert_eq!(to_json(&[V::Int(1), V::Int(2)], true), "[1,2]");
    }
}

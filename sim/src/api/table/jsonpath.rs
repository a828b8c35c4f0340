//! The JSONPath subset CRDs' `additionalPrinterColumns` use, evaluated as
//! k8s.io/client-go util/jsonpath `JSONPath.FindResults` with `AllowMissingKeys(true)` does:
//! fields, `[n]` (negative from the end), `[*]`, `['key']` and filters
//! `[?(@.path == 'literal')]` / `!=`. A missing key or index yields no result, not an error.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Field(String),
    Index(i64),
    All,
    Filter {
        path: Vec<Step>,
        equal: bool,
        literal: Value,
    },
}

/// Parses a column's JSONPath (`.status.conditions[?(@.type=='Ready')].status`).
pub fn parse(path: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut rest = path.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            if after.starts_with('.') {
                return Err(format!("recursive descent is not supported in {path:?}"));
            }
            let end = after.find(['.', '[']).unwrap_or(after.len());
            match &after[..end] {
                "" => return Err(format!("an empty field name in {path:?}")),
                "*" => steps.push(Step::All),
                name => steps.push(Step::Field(name.to_string())),
            }
            rest = &after[end..];
        } else if rest.starts_with('[') {
            let end = closing_bracket(rest).ok_or_else(|| format!("unclosed [ in {path:?}"))?;
            steps.push(bracket(&rest[1..end]).map_err(|e| format!("{e} in {path:?}"))?);
            rest = &rest[end + 1..];
        } else {
            return Err(format!("unexpected {rest:?} in {path:?}"));
        }
    }
    Ok(steps)
}

/// The index of the `]` closing the `[` at 0, skipping brackets inside quotes.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut depth = 0;
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn bracket(inner: &str) -> Result<Step, String> {
    let inner = inner.trim();
    if inner == "*" {
        return Ok(Step::All);
    }
    if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        return parse_filter(filter);
    }
    if let Some(key) = unquote(inner) {
        return Ok(Step::Field(key.to_string()));
    }
    inner
        .parse()
        .map(Step::Index)
        .map_err(|_| format!("unsupported subscript [{inner}]"))
}

fn unquote(s: &str) -> Option<&str> {
    let s = s.trim();
    ['\'', '"'].iter().find_map(|q| {
        s.strip_prefix(*q)
            .and_then(|rest| rest.strip_suffix(*q))
            .filter(|_| s.len() >= 2)
    })
}

fn parse_filter(filter: &str) -> Result<Step, String> {
    let (lhs, rhs, equal) = match (filter.split_once("=="), filter.split_once("!=")) {
        (Some((l, r)), _) => (l, r, true),
        (None, Some((l, r))) => (l, r, false),
        _ => return Err(format!("unsupported filter ?({filter})")),
    };
    let path = lhs
        .trim()
        .strip_prefix('@')
        .ok_or_else(|| format!("a filter must start with @: ?({filter})"))?;
    let literal = match unquote(rhs) {
        Some(s) => Value::String(s.to_string()),
        None => serde_json::from_str(rhs.trim())
            .map_err(|_| format!("unsupported filter literal {}", rhs.trim()))?,
    };
    Ok(Step::Filter {
        path: parse(path)?,
        equal,
        literal,
    })
}

/// Every value `steps` reaches from `root`, in document order.
pub fn find<'a>(steps: &[Step], root: &'a Value) -> Vec<&'a Value> {
    let mut current = vec![root];
    for step in steps {
        current = current.into_iter().flat_map(|v| apply(step, v)).collect();
    }
    current
}

fn apply<'a>(step: &Step, value: &'a Value) -> Vec<&'a Value> {
    match (step, value) {
        (Step::Field(name), Value::Object(map)) => map.get(name).into_iter().collect(),
        (Step::Index(i), Value::Array(items)) => {
            let at = if *i < 0 { items.len() as i64 + i } else { *i };
            usize::try_from(at)
                .ok()
                .and_then(|at| items.get(at))
                .into_iter()
                .collect()
        }
        (Step::All, Value::Array(items)) => items.iter().collect(),
        (Step::All, Value::Object(map)) => map.values().collect(),
        (
            Step::Filter {
                path,
                equal,
                literal,
            },
            Value::Array(items),
        ) => items
            .iter()
            .filter(|item| {
                find(path, item)
                    .first()
                    .is_some_and(|v| (*v == literal) == *equal)
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(path: &str, v: &Value) -> Vec<Value> {
        find(&parse(path).unwrap(), v)
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn fields_indexes_and_filters() {
        let vmi = json!({"status": {"phase": "Running",
            "interfaces": [{"ipAddress": "10.0.0.5"}, {"ipAddress": "10.0.0.6"}],
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Paused", "status": "False"}]}});
        assert_eq!(eval(".status.phase", &vmi), vec![json!("Running")]);
        assert_eq!(
            eval(".status.interfaces[0].ipAddress", &vmi),
            vec![json!("10.0.0.5")]
        );
        assert_eq!(
            eval(".status.interfaces[-1].ipAddress", &vmi),
            vec![json!("10.0.0.6")]
        );
        assert_eq!(eval(".status.interfaces[*].ipAddress", &vmi).len(), 2);
        assert_eq!(
            eval(".status.conditions[?(@.type=='Ready')].status", &vmi),
            vec![json!("True")]
        );
        assert_eq!(
            eval(r#".status.conditions[?(@.status=="True")].type"#, &vmi),
            vec![json!("Ready")]
        );
        assert_eq!(
            eval(".status.conditions[?(@.type!='Ready')].type", &vmi),
            vec![json!("Paused")]
        );
        assert_eq!(eval(".status['phase']", &vmi), vec![json!("Running")]);
    }

    #[test]
    fn missing_keys_and_indexes_yield_nothing() {
        let v = json!({"status": {"interfaces": []}});
        assert!(eval(".status.interfaces[0].ipAddress", &v).is_empty());
        assert!(eval(".status.nodeName", &v).is_empty());
        assert!(eval(".spec.vmiName", &json!({})).is_empty());
    }

    #[test]
    fn malformed_paths_are_refused_with_the_reason() {
        for bad in ["status", ".a..b", ".a[", ".a[?(@.x > 1)]", ".a[1:2]"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

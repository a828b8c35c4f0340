//! Instant queries over the scraped samples: the subset of PromQL vstp's harness uses, parsed
//! with `promql-parser` and evaluated as prometheus/prometheus promql/engine.go does for it —
//! an instant vector selector with `=`, `!=`, `=~`, `!~` matchers (a label a series lacks
//! matches as the empty string), and `timestamp()` of one (the sample's time in seconds,
//! without the metric name). Anything else is refused with what is supported.

use std::collections::BTreeMap;

use promql_parser::label::Matcher;
use promql_parser::parser::{self, Expr, VectorSelector};

use super::tsdb::{Scrape, Tsdb};

/// One element of the answer's vector (its timestamp is the evaluation time).
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub metric: BTreeMap<String, String>,
    pub value: f64,
}

pub const SUPPORTED: &str = "vstp-sim's query API evaluates instant vector selectors \
    (metric{label=\"v\"}, with =, !=, =~ and !~ matchers) and timestamp(<selector>)";

/// Evaluates `query` at `t_ms` (Unix milliseconds). The error is Prometheus's `bad_data`
/// message.
pub fn instant(db: &Tsdb, query: &str, t_ms: i64) -> Result<Vec<Element>, String> {
    let expr = parser::parse(query).map_err(|e| format!("invalid parameter \"query\": {e}"))?;
    let scrape = db.at(t_ms);
    evaluate(&expr, scrape.as_ref())
}

fn evaluate(expr: &Expr, scrape: Option<&Scrape>) -> Result<Vec<Element>, String> {
    match expr {
        Expr::Paren(p) => evaluate(&p.expr, scrape),
        Expr::VectorSelector(selector) => select(selector, scrape),
        Expr::Call(call) if call.func.name == "timestamp" && call.args.args.len() == 1 => {
            let Expr::VectorSelector(selector) = strip_parens(&call.args.args[0]) else {
                return Err(unsupported(expr));
            };
            let at_s = scrape.map_or(0.0, |s| s.at_ms as f64 / 1000.0);
            let mut elements = select(selector, scrape)?;
            for e in &mut elements {
                e.metric.remove("__name__");
                e.value = at_s;
            }
            Ok(elements)
        }
        _ => Err(unsupported(expr)),
    }
}

fn strip_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => strip_parens(&p.expr),
        other => other,
    }
}

fn unsupported(expr: &Expr) -> String {
    format!("unsupported expression `{expr}`: {SUPPORTED}")
}

fn select(selector: &VectorSelector, scrape: Option<&Scrape>) -> Result<Vec<Element>, String> {
    if selector.offset.is_some() || selector.at.is_some() {
        return Err(format!(
            "unsupported modifier in `{selector}` (offset, @): {SUPPORTED}"
        ));
    }
    let Some(scrape) = scrape else {
        return Ok(Vec::new());
    };
    let matches_all = |labels: &BTreeMap<String, String>, ms: &[Matcher]| {
        ms.iter()
            .all(|m| m.is_match(labels.get(&m.name).map_or("", String::as_str)))
    };
    let name_matches = |labels: &BTreeMap<String, String>| {
        selector
            .name
            .as_ref()
            .is_none_or(|n| labels.get("__name__") == Some(n))
    };
    let matchers = &selector.matchers;
    let selected = scrape.samples.iter().filter(|s| {
        name_matches(&s.labels)
            && (matches_all(&s.labels, &matchers.matchers)
                && (matchers.or_matchers.is_empty()
                    || matchers
                        .or_matchers
                        .iter()
                        .any(|ms| matches_all(&s.labels, ms))))
    });
    Ok(selected
        .map(|s| Element {
            metric: s.labels.clone(),
            value: s.value,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::exposition::Sample;

    fn db() -> Tsdb {
        let db = Tsdb::new(std::time::Duration::from_secs(300));
        let sample = |name: &str, network: &str| Sample {
            labels: [("__name__", name), ("name", "vm-a"), ("network", network)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: 1.0,
        };
        db.append(Scrape {
            at_ms: 10_500,
            samples: vec![
                sample("kubevirt_vmi_vnic_info", "ns/vlan-a"),
                sample("kubevirt_vmi_vnic_info", "pod networking"),
                sample("kubevirt_vm_vnic_info", "ns/vlan-a"),
            ],
        });
        db
    }

    fn networks(query: &str) -> Vec<String> {
        let found = instant(&db(), query, 11_000).unwrap();
        found
            .into_iter()
            .map(|e| e.metric["network"].clone())
            .collect()
    }

    #[test]
    fn every_matcher_kind_selects_as_prometheus_does() {
        assert_eq!(networks("kubevirt_vmi_vnic_info").len(), 2);
        assert_eq!(
            networks(r#"kubevirt_vmi_vnic_info{network="ns/vlan-a"}"#),
            ["ns/vlan-a"]
        );
        assert_eq!(
            networks(r#"kubevirt_vmi_vnic_info{network!="ns/vlan-a"}"#),
            ["pod networking"]
        );
        assert_eq!(
            networks(r#"kubevirt_vmi_vnic_info{network=~"pod.*"}"#),
            ["pod networking"]
        );
        assert_eq!(
            networks(r#"kubevirt_vmi_vnic_info{network!~"pod.*"}"#),
            ["ns/vlan-a"]
        );
        assert_eq!(
            networks(r#"kubevirt_vmi_vnic_info{network=~"vlan"}"#).len(),
            0,
            "anchored"
        );
        assert_eq!(networks(r#"{__name__=~"kubevirt_vm_.*"}"#), ["ns/vlan-a"]);
        assert_eq!(networks(r#"kubevirt_vmi_vnic_info{absent=""}"#).len(), 2);
    }

    #[test]
    fn timestamp_gives_the_scrapes_time_without_the_name() {
        let found = instant(&db(), r#"timestamp(kubevirt_vm_vnic_info)"#, 11_000).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].value, 10.5);
        assert!(!found[0].metric.contains_key("__name__"));
    }

    #[test]
    fn anything_else_is_refused_naming_what_is_supported() {
        for query in [
            "count(kubevirt_vmi_vnic_info)",
            "kubevirt_vmi_vnic_info[5m]",
            "1 + 1",
        ] {
            let err = instant(&db(), query, 11_000).unwrap_err();
            assert!(
                err.contains("unsupported") && err.contains(SUPPORTED),
                "{query}: {err}"
            );
        }
        let err = instant(&db(), "kubevirt_vmi_vnic_info{", 11_000).unwrap_err();
        assert!(err.starts_with("invalid parameter \"query\""), "{err}");
    }
}

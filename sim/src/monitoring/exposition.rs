//! The two ends of a scrape: virt-controller's `/metrics` answer in the Prometheus text format
//! (0.0.4), encoded with `prometheus-client`, and Prometheus reading that text back into
//! samples, with `prometheus-parse`. The query side only ever sees what went through the text.

use std::collections::BTreeMap;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::vnic::Series;

/// One gauge family as a collector reports it: name, help, series (each with value 1).
pub struct InfoGauge<'a> {
    pub name: &'a str,
    pub help: &'a str,
    pub series: Vec<Series>,
}

/// The `/metrics` body for `gauges`, in the Prometheus text format.
pub fn encode(gauges: Vec<InfoGauge<'_>>) -> String {
    let mut registry = Registry::default();
    for gauge in gauges {
        let family = Family::<Series, Gauge>::default();
        for series in gauge.series {
            family.get_or_create(&series).set(1);
        }
        registry.register(gauge.name, gauge.help, family);
    }
    let mut text = String::new();
    prometheus_text::encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}

/// One scraped sample: its labels (`__name__` among them) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Reads a `/metrics` body as Prometheus does, giving each sample `target` labels (the
/// ServiceMonitor's `honorLabels: true` keeps the metric's own labels where they clash:
/// kubevirt pkg/virt-operator/resource/generate/components/prometheus.go NewServiceMonitorCR).
pub fn parse(text: &str, target: &[(&str, &str)]) -> Result<Vec<Sample>, String> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines)
        .map_err(|e| format!("the scraped text does not parse: {e}"))?;
    let mut samples = Vec::new();
    for sample in scrape.samples {
        let value = match sample.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => v,
            // vstp-sim's collectors export no histograms or summaries.
            _ => continue,
        };
        let mut labels: BTreeMap<String, String> = target
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.extend(sample.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        labels.insert("__name__".into(), sample.metric);
        samples.push(Sample { labels, value });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(network: &str) -> Series {
        vec![
            ("name".into(), "vm-a".into()),
            ("namespace".into(), "ns".into()),
            ("network".into(), network.into()),
        ]
    }

    #[test]
    fn the_text_is_prometheus_text_format_and_reads_back_with_target_labels() {
        let text = encode(vec![InfoGauge {
            name: "kubevirt_vmi_vnic_info",
            help: "Details.",
            series: vec![series("pod networking"), series("ns/vlan-a")],
        }]);
        assert!(
            text.contains("# TYPE kubevirt_vmi_vnic_info gauge\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "kubevirt_vmi_vnic_info{name=\"vm-a\",namespace=\"ns\",network=\"ns/vlan-a\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("# EOF"),
            "0.0.4 text has no OpenMetrics EOF: {text}"
        );
        let read = parse(
            &text,
            &[("job", "kubevirt-prometheus-metrics"), ("namespace", "x")],
        )
        .unwrap();
        assert_eq!(read.len(), 2);
        let networks: Vec<&str> = read.iter().map(|s| s.labels["network"].as_str()).collect();
        assert!(networks.contains(&"pod networking") && networks.contains(&"ns/vlan-a"));
        assert_eq!(read[0].labels["__name__"], "kubevirt_vmi_vnic_info");
        assert_eq!(
            read[0].labels["namespace"], "ns",
            "honorLabels keeps the metric's own"
        );
        assert_eq!(read[0].labels["job"], "kubevirt-prometheus-metrics");
        assert_eq!(read[0].value, 1.0);
    }
}

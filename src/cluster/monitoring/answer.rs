//! Prometheus's HTTP API answers (prometheus/prometheus web/api/v1/api.go `Response`):
//! `{"status":"success","data":{"resultType":"vector","result":[{"metric":{…},"value":[t,"v"]}]}}`
//! or `{"status":"error","errorType":…,"error":…}`, read with serde.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Response {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Element>,
}

#[derive(Debug, Clone, Deserialize)]
struct Element {
    metric: BTreeMap<String, String>,
    /// The evaluation time (Unix seconds) and the value, as a string.
    value: (f64, String),
}

/// An instant vector.
#[derive(Debug, Clone)]
pub struct Vector {
    elements: Vec<Element>,
}

/// One series of a `timestamp(…)` answer: its labels and when its sample was scraped.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// Unix seconds, on Prometheus's clock.
    pub scraped_at: f64,
}

impl Series {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

/// The vector of an answer with HTTP status `status`, or what went wrong.
pub fn read(status: u16, body: &[u8]) -> anyhow::Result<Vector> {
    let text = String::from_utf8_lossy(body);
    if status == 401 || status == 403 {
        anyhow::bail!(
            "thanos-querier refused the bearer token ({status}: {}); the token must be valid and \
             allowed to `get` namespaces (cluster-monitoring-view or cluster-admin)",
            text.trim()
        );
    }
    let parsed: Response = serde_json::from_slice(body).map_err(|e| {
        anyhow::anyhow!(
            "answer {status} is not Prometheus's JSON ({e}): {}",
            text.trim()
        )
    })?;
    if parsed.status != "success" {
        anyhow::bail!(
            "Prometheus answered {status} {}: {}",
            parsed.error_type.as_deref().unwrap_or("error"),
            parsed.error.as_deref().unwrap_or("(no message)")
        );
    }
    let data = parsed
        .data
        .ok_or_else(|| anyhow::anyhow!("a success without data: {text}"))?;
    if data.result_type != "vector" {
        anyhow::bail!(
            "expected an instant vector, Prometheus answered a {}",
            data.result_type
        );
    }
    Ok(Vector {
        elements: data.result,
    })
}

impl Vector {
    /// The elements as `timestamp(…)` series (value = when the sample was scraped).
    pub fn series(&self) -> Vec<Series> {
        let series = self.elements.iter().map(|e| Series {
            labels: e.metric.clone(),
            scraped_at: e.value.1.parse().unwrap_or(f64::NAN),
        });
        series.collect()
    }

    /// For a `timestamp(…)` answer: how long before the evaluation the newest sample was taken.
    pub fn newest_sample_age(&self) -> Option<Duration> {
        let evaluated = self.elements.first()?.value.0;
        let newest = self
            .series()
            .iter()
            .map(|s| s.scraped_at)
            .fold(f64::NAN, f64::max);
        let age = evaluated - newest;
        age.is_finite()
            .then(|| Duration::from_secs_f64(age.max(0.0)))
    }
}

/// What a set of series held, for a timeout's message.
pub fn describe(series: &[Series]) -> String {
    if series.is_empty() {
        return "no series".to_string();
    }
    let one = |s: &Series| {
        let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        format!("{{{}}} scraped at {:.3}", labels.join(", "), s.scraped_at)
    };
    series.iter().map(one).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMPED: &str = r#"{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"name":"vm","network":"ns/vlan-b"},"value":[1700000010.5,"1700000000.25"]},
        {"metric":{"name":"vm","network":"pod networking"},"value":[1700000010.5,"1700000004.5"]}]}}"#;

    #[test]
    fn a_timestamp_answer_gives_each_series_its_scrape_time_and_the_newest_age() {
        let vector = read(200, STAMPED.as_bytes()).unwrap();
        let series = vector.series();
        assert_eq!(series[0].label("network"), Some("ns/vlan-b"));
        assert_eq!(series[0].scraped_at, 1700000000.25);
        assert_eq!(vector.newest_sample_age(), Some(Duration::from_secs(6)));
        assert!(
            describe(&series).contains("network=\"ns/vlan-b\""),
            "{}",
            describe(&series)
        );
        assert_eq!(describe(&[]), "no series");
    }

    #[test]
    fn errors_say_what_prometheus_or_the_proxy_said() {
        let bad = r#"{"status":"error","errorType":"bad_data","error":"unsupported expression"}"#;
        let err = format!("{:#}", read(400, bad.as_bytes()).unwrap_err());
        assert!(
            err.contains("bad_data") && err.contains("unsupported expression"),
            "{err}"
        );
        let err = format!("{:#}", read(401, b"Unauthorized\n").unwrap_err());
        assert!(err.contains("refused the bearer token"), "{err}");
        let err = format!(
            "{:#}",
            read(503, b"<html>Application is not available</html>").unwrap_err()
        );
        assert!(err.contains("not Prometheus's JSON"), "{err}");
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            read(200, empty.as_bytes()).unwrap().newest_sample_age(),
            None
        );
    }
}

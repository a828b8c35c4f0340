//! `vstp cleanup`: finds what runs left behind (a crash, a kill -9, a lost CI node) by the
//! run label, and removes it the way a scenario's own teardown would: nodes uncordoned, the
//! namespaces deleted, cluster-scoped objects removed (NNCPs handed back first).

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::ListParams;
use serde_json::Value;

use super::budget::{Budgets, Wait};
use super::cordon::{self, CORDONED_BY};
use super::kinds::to_value;
use super::kinds::{self, Kind};
use super::retry::retrying;
use super::scope::RUN_LABEL;
use super::teardown;

/// Which leftovers to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftovers {
    /// Everything of one run.
    Run(String),
    /// Everything of runs that created it longer ago than this.
    OlderThan(Duration),
}

impl Leftovers {
    fn selects(&self, object: &Value) -> bool {
        match self {
            Leftovers::Run(id) => object["metadata"]["labels"][RUN_LABEL] == id.as_str(),
            Leftovers::OlderThan(age) => created(object).is_some_and(|t| {
                let age = chrono::Duration::from_std(*age).unwrap_or(chrono::Duration::MAX);
                chrono::Utc::now().signed_duration_since(t) > age
            }),
        }
    }
}

fn created(object: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = object["metadata"]["creationTimestamp"].as_str()?;
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// What was removed, and what could not be.
#[derive(Debug, Default)]
pub struct Swept {
    pub removed: Vec<String>,
    pub problems: Vec<String>,
}

/// The leftovers `which` selects, found but not touched.
#[derive(Debug, Default)]
pub struct Found {
    namespaces: Vec<Value>,
    cluster_scoped: Vec<(Kind, Value)>,
    /// Nodes cordoned by one of the runs found.
    cordoned: Vec<String>,
    pub problems: Vec<String>,
}

impl Found {
    /// One line per leftover: `namespace vstp-…`, `NodeNetworkConfigurationPolicy br1-…`,
    /// `cordon of node worker-1`.
    pub fn describe(&self) -> Vec<String> {
        let name = |o: &Value| o["metadata"]["name"].as_str().unwrap_or("").to_string();
        let namespaces = self
            .namespaces
            .iter()
            .map(|o| format!("namespace {}", name(o)));
        let scoped = self
            .cluster_scoped
            .iter()
            .map(|(k, o)| format!("{} {}", k.kind, name(o)));
        let cordons = self.cordoned.iter().map(|n| format!("cordon of node {n}"));
        namespaces.chain(scoped).chain(cordons).collect()
    }
}

/// Finds the leftovers `which` selects: run-labelled namespaces and cluster-scoped objects,
/// and the nodes those runs cordoned. With an age, also the nodes cordoned by a run that has
/// no namespace left at all: a scenario opens its namespace before it cordons and uncordons
/// before it deletes it, so such a cordon belongs to no live run, whatever its age (its
/// teardown's uncordon failed, or the run was killed in between).
pub async fn find(client: &kube::Client, which: &Leftovers) -> Found {
    let mut found = Found::default();
    // Without the namespace list no run can be told dead: then no cordon is taken as orphaned.
    let all_namespaces = owned(client, kinds::NAMESPACE).await;
    let listed = all_namespaces.is_ok();
    let all_namespaces = all_namespaces.unwrap_or_else(|e| {
        found.problems.push(e);
        Vec::new()
    });
    let live_runs: BTreeSet<String> = all_namespaces.iter().filter_map(run_of).collect();
    found.namespaces = all_namespaces
        .into_iter()
        .filter(|o| which.selects(o))
        .collect();
    for kind in kinds::CLUSTER_SCOPED_OWNED {
        match owned(client, kind).await {
            Ok(objects) => found.cluster_scoped.extend(
                objects
                    .into_iter()
                    .filter(|o| which.selects(o))
                    .map(|o| (kind, o)),
            ),
            Err(e) => found.problems.push(e),
        }
    }
    let mut runs: BTreeSet<String> = found
        .namespaces
        .iter()
        .chain(found.cluster_scoped.iter().map(|(_, o)| o))
        .filter_map(run_of)
        .collect();
    if let Leftovers::Run(id) = which {
        runs.insert(id.clone());
    }
    let orphaned =
        |run: &str| matches!(which, Leftovers::OlderThan(_)) && listed && !live_runs.contains(run);
    let selected = |run: &str| runs.contains(run) || orphaned(run);
    found.cordoned = cordoned_by(client, selected, &mut found.problems).await;
    found
}

fn run_of(object: &Value) -> Option<String> {
    object["metadata"]["labels"][RUN_LABEL]
        .as_str()
        .map(String::from)
}

/// Removes the selected leftovers of vstp runs.
pub async fn sweep(client: &kube::Client, which: &Leftovers, budgets: &Budgets) -> Swept {
    let found = find(client, which).await;
    let mut swept = Swept {
        problems: found.problems,
        ..Swept::default()
    };
    for name in &found.cordoned {
        let done = cordon::uncordon(client, name).await;
        record(&mut swept, format!("cordon of node {name}"), done);
    }
    for ns in &found.namespaces {
        let name = ns["metadata"]["name"].as_str().unwrap_or("");
        let budget = budgets.of(Wait::Deletion);
        let done = teardown::delete_and_wait(client, kinds::NAMESPACE, "", name, budget).await;
        record(&mut swept, format!("namespace {name}"), done);
    }
    for (kind, object) in found.cluster_scoped {
        let name = object["metadata"]["name"].as_str().unwrap_or("");
        let done = teardown::remove(client, kind, name, budgets).await;
        record(&mut swept, format!("{} {name}", kind.kind), done);
    }
    swept
}

/// The objects of `kind` carrying the run label, of any run.
async fn owned(client: &kube::Client, kind: Kind) -> Result<Vec<Value>, String> {
    let api = kind.api(client, "");
    let params = ListParams::default().labels(RUN_LABEL);
    match retrying(|| api.list(&params)).await {
        Ok(list) => Ok(list.items.iter().map(to_value).collect()),
        Err(e) => Err(format!("cannot list {}: {e}", kind.plural)),
    }
}

/// The nodes cordoned by a run `selected` accepts (they carry its ID in an annotation).
async fn cordoned_by(
    client: &kube::Client,
    selected: impl Fn(&str) -> bool,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let api = kinds::NODE.api(client, "");
    let params = ListParams::default();
    let listed = match retrying(|| api.list(&params)).await {
        Ok(list) => list,
        Err(e) => {
            problems.push(format!("cannot list nodes: {e}"));
            return Vec::new();
        }
    };
    listed
        .items
        .iter()
        .map(to_value)
        .filter(|node| {
            let by = node["metadata"]["annotations"][CORDONED_BY].as_str();
            by.is_some_and(&selected)
        })
        .filter_map(|node| node["metadata"]["name"].as_str().map(String::from))
        .collect()
}

fn record(swept: &mut Swept, what: String, done: anyhow::Result<()>) {
    match done {
        Ok(()) => swept.removed.push(what),
        Err(e) => swept.problems.push(format!("{what}: {e:#}")),
    }
}

/// `90s`, `30m`, `12h`, `7d`.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}` is not an age: write a number and s, m, h or d (e.g. 12h)"
            ))
        }
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!("`{text}` is not an age: write a number and s, m, h or d (e.g. 12h)")
    })?;
    Ok(Duration::from_secs(n * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ages_read_in_seconds_minutes_hours_and_days() {
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_age("12").unwrap_err().contains("s, m, h or d"));
        assert!(parse_age("h").is_err());
    }

    #[test]
    fn leftovers_are_selected_by_run_or_by_age() {
        let old = json!({"metadata": {"labels": {RUN_LABEL: "r1"},
            "creationTimestamp": "2020-01-01T00:00:00Z"}});
        let fresh = json!({"metadata": {"labels": {RUN_LABEL: "r2"},
            "creationTimestamp": chrono::Utc::now().to_rfc3339()}});
        assert!(Leftovers::Run("r1".into()).selects(&old));
        assert!(!Leftovers::Run("r1".into()).selects(&fresh));
        let day = Leftovers::OlderThan(Duration::from_secs(86_400));
        assert!(day.selects(&old) && !day.selects(&fresh));
    }
}

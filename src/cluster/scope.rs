//! What one scenario owns on the cluster, and how it is given back. Every object carries the
//! run and scenario labels; namespaced objects live in the scenario's own namespace; the
//! cluster-scoped ones (NNCP, MigrationPolicy, CUDN) are remembered in creation order and torn
//! down symmetrically; nodes it cordoned are uncordoned. Teardown runs on every outcome.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use kube::api::PostParams;
use serde_json::{json, Value};

use super::budget::{Budgets, Wait, WaitLedger};
use super::kinds::to_value;
use super::kinds::{self, Kind};
use super::retry::retrying;
use super::teardown;

pub const RUN_LABEL: &str = "vstp.io/run-id";
pub const SCENARIO_LABEL: &str = "vstp.io/scenario";
/// OVN-Kubernetes only lets a primary UDN serve a namespace labelled so at creation.
pub const PRIMARY_UDN_LABEL: &str = "k8s.ovn.org/primary-user-defined-network";

/// How the scenario's namespace is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NamespaceKind {
    #[default]
    Plain,
    /// Labelled for a primary user-defined network.
    PrimaryUdn,
}

pub struct Scope {
    client: kube::Client,
    run_id: String,
    scenario: String,
    ns: String,
    pub budgets: Budgets,
    /// Where the budgets of this scope's waits are charged: the scenario's, which its own
    /// budget grows with (a fresh one for a scope opened outside a scenario).
    ledger: Arc<WaitLedger>,
    owned: Mutex<Vec<(Kind, String)>>,
    cordoned: Mutex<Vec<String>>,
}

impl Scope {
    /// Creates the scenario's namespace `vstp-<run-id>-<scenario>`.
    pub async fn open(
        client: &kube::Client,
        run_id: &str,
        scenario: &str,
        kind: NamespaceKind,
        budgets: Budgets,
    ) -> anyhow::Result<Scope> {
        let scope = Scope::unopened(client, run_id, scenario, budgets);
        scope.create_namespace(kind).await?;
        Ok(scope)
    }

    /// The scope before its namespace exists: whoever tears scopes down can hold it before
    /// the namespace is asked for, so a namespace created by a request that was cancelled
    /// midway (a signal) is still deleted.
    pub fn unopened(
        client: &kube::Client,
        run_id: &str,
        scenario: &str,
        budgets: Budgets,
    ) -> Scope {
        Scope {
            client: client.clone(),
            run_id: run_id.to_string(),
            scenario: scenario.to_string(),
            ns: namespace_name(run_id, scenario),
            budgets,
            ledger: Arc::default(),
            owned: Mutex::new(Vec::new()),
            cordoned: Mutex::new(Vec::new()),
        }
    }

    /// Creates the namespace of an [`Scope::unopened`] scope.
    pub async fn create_namespace(&self, kind: NamespaceKind) -> anyhow::Result<()> {
        let mut labels = self.labels();
        if kind == NamespaceKind::PrimaryUdn {
            labels.insert(PRIMARY_UDN_LABEL.into(), String::new());
        }
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": self.ns, "labels": labels}});
        create_raw(&self.client, &kinds::NAMESPACE, "", namespace)
            .await
            .with_context(|| format!("cannot create the scenario's namespace {}", self.ns))?;
        Ok(())
    }

    /// The same scope charging its waits to `ledger`, the scenario's.
    pub fn charging(self, ledger: Arc<WaitLedger>) -> Scope {
        Scope { ledger, ..self }
    }

    /// The budget of one `wait` of this scenario, charged to its ledger: every wait a
    /// scenario starts takes its budget here, so the scenario's budget covers them all.
    pub fn budget(&self, wait: Wait) -> std::time::Duration {
        let budget = self.budgets.of(wait);
        self.ledger.charge(wait, budget);
        budget
    }

    /// The waits charged so far (the scenario's, once `charging` it).
    pub fn waits(&self) -> &WaitLedger {
        &self.ledger
    }

    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    pub fn ns(&self) -> &str {
        &self.ns
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The labels every object of this scenario carries.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (RUN_LABEL.to_string(), self.run_id.clone()),
            (SCENARIO_LABEL.to_string(), self.scenario.clone()),
        ])
    }

    /// A name unique to this run and scenario for a cluster-scoped object:
    /// `<base>-<scenario>-<run salt>`.
    pub fn cluster_name(&self, base: &str) -> String {
        let salt = self.run_id.rsplit('-').next().unwrap_or("");
        format!("{base}-{}-{salt}", self.scenario)
    }

    /// Creates `object` of `kind`, labelled, in this scenario's namespace when namespaced;
    /// remembers cluster-scoped objects for teardown. Returns the created object.
    pub async fn create(&self, kind: Kind, mut object: Value) -> anyhow::Result<Value> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let labels = &mut object["metadata"]["labels"];
        if !labels.is_object() {
            *labels = json!({});
        }
        for (k, v) in self.labels() {
            labels[k] = json!(v);
        }
        if kind.namespaced {
            object["metadata"]["namespace"] = json!(self.ns);
        }
        let created = create_raw(&self.client, &kind, &self.ns, object)
            .await
            .with_context(|| format!("cannot create {} {name}", kind.kind))?;
        // Only what this call created is ours to remove: a name clash must not make teardown
        // delete somebody else's object.
        if !kind.namespaced {
            self.owned
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((kind, name));
        }
        Ok(created)
    }

    /// Records that this scenario cordoned `node`, so teardown uncordons it.
    pub fn cordoned(&self, node: &str) {
        let mut nodes = self.cordoned.lock().unwrap_or_else(|p| p.into_inner());
        if !nodes.iter().any(|n| n == node) {
            nodes.push(node.to_string());
        }
    }

    /// The nodes this scenario cordoned and has not given back yet.
    pub fn cordoned_nodes(&self) -> Vec<String> {
        self.cordoned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Gives everything back: uncordons nodes, deletes the namespace and waits until it is
    /// gone, then removes cluster-scoped objects newest first. Keeps going past failures and
    /// reports them all at the end.
    pub async fn teardown(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let nodes = std::mem::take(&mut *self.cordoned.lock().unwrap_or_else(|p| p.into_inner()));
        for node in nodes {
            if let Err(e) = super::cordon::uncordon(&self.client, &node).await {
                problems.push(format!("{e:#}"));
            }
        }
        let deletion = self.budgets.of(Wait::Deletion);
        if let Err(e) =
            teardown::delete_and_wait(&self.client, kinds::NAMESPACE, "", &self.ns, deletion).await
        {
            problems.push(format!("{e:#}"));
        }
        let owned = std::mem::take(&mut *self.owned.lock().unwrap_or_else(|p| p.into_inner()));
        for (kind, name) in owned.into_iter().rev() {
            if let Err(e) = teardown::remove(&self.client, kind, &name, &self.budgets).await {
                problems.push(format!("{e:#}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            anyhow::bail!(
                "teardown of {} left things behind: {}",
                self.ns,
                problems.join("; ")
            )
        }
    }
}

/// `vstp-<run-id>-<scenario>`, cut to the 63 characters a namespace name may have.
fn namespace_name(run_id: &str, scenario: &str) -> String {
    let mut name: String = format!("vstp-{run_id}-{scenario}")
        .chars()
        .take(63)
        .collect();
    while name.ends_with('-') {
        name.pop();
    }
    name
}

pub(crate) async fn create_raw(
    client: &kube::Client,
    kind: &Kind,
    ns: &str,
    object: Value,
) -> anyhow::Result<Value> {
    let object: kube::api::DynamicObject =
        serde_json::from_value(object).context("the object does not have a Kubernetes shape")?;
    let api = kind.api(client, ns);
    let params = PostParams::default();
    let created = retrying(|| api.create(&params, &object)).await?;
    Ok(to_value(&created))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_fit_and_end_cleanly() {
        assert_eq!(
            namespace_name("20261129-214003-ab12", "bridge-vlan-swap"),
            "vstp-20261129-214003-ab12-bridge-vlan-swap"
        );
        let long = namespace_name("20261129-214003-ab12", &"x-".repeat(40));
        assert!(long.len() <= 63 && !long.ends_with('-'), "{long}");
    }
}

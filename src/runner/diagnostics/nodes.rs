//! The NodeNetworkStates of the nodes a scenario used: where its VMIs and launcher pods ran,
//! the two ends of its migrations, the nodes its own NNCPs configured and the nodes it
//! cordoned. Other nodes' states would only bury these.

use std::collections::BTreeSet;

use serde_json::Value;

use super::folder::Folder;
use super::Listed;
use crate::cluster::kinds::{self, to_value};
use crate::cluster::scope::{Scope, SCENARIO_LABEL};

pub async fn collect(scope: &Scope, listed: &Listed, folder: &mut Folder) {
    let nodes = involved(scope, listed);
    let api = kinds::NNS.api(scope.client(), "");
    let mut states = Vec::new();
    for node in &nodes {
        match api.get_opt(node).await {
            Ok(Some(state)) => states.push(to_value(&state)),
            Ok(None) => folder.error(format!("nodenetworkstates: none for node {node}")),
            Err(e) => folder.error(format!("nodenetworkstates/{node}: {e}")),
        }
    }
    folder.objects(&kinds::NNS, &states);
}

/// The names of the nodes the scenario's objects name.
fn involved(scope: &Scope, listed: &Listed) -> BTreeSet<String> {
    let of = |kind: &kinds::Kind| listed.get(kind.plural).map(Vec::as_slice).unwrap_or(&[]);
    let at =
        |v: &Value, pointer: &str| v.pointer(pointer).and_then(Value::as_str).map(String::from);
    let mut nodes = BTreeSet::new();
    nodes.extend(
        of(&kinds::POD)
            .iter()
            .filter_map(|p| at(p, "/spec/nodeName")),
    );
    nodes.extend(
        of(&kinds::VMI)
            .iter()
            .filter_map(|v| at(v, "/status/nodeName")),
    );
    for m in of(&kinds::VMIM) {
        nodes.extend(at(m, "/status/migrationState/sourceNode"));
        nodes.extend(at(m, "/status/migrationState/targetNode"));
    }
    let scenario = scope.labels().remove(SCENARIO_LABEL);
    let policies: BTreeSet<String> = of(&kinds::NNCP)
        .iter()
        .filter(|p| at(p, &format!("/metadata/labels/{}", escaped(SCENARIO_LABEL))) == scenario)
        .filter_map(|p| at(p, "/metadata/name"))
        .collect();
    for enactment in of(&kinds::NNCE) {
        let label = |key: &str| at(enactment, &format!("/metadata/labels/{}", escaped(key)));
        let policy = label("nmstate.io/policy");
        if policy.is_some_and(|p| policies.contains(&p)) {
            nodes.extend(label("nmstate.io/node"));
        }
    }
    nodes.extend(scope.cordoned_nodes());
    nodes.retain(|n| !n.is_empty());
    nodes
}

/// A label key as one JSON-pointer segment.
fn escaped(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

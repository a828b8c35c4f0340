//! The harness on the simulator's default, untidy cluster (an infra node, a NotReady worker, a
//! worker without the spare NICs, a worker whose spare NICs are bonded or down): set-ups aim
//! their node network policies, one node after the other, at the usable nodes where the NIC
//! is safe to take only, drains refuse a node the harness does not use, and too few usable
//! nodes is an error that names every excluded node and why.

use futures::TryStreamExt;
use kube::api::ListParams;
use kube::runtime::watcher;
use vstp::cluster::kinds::{self, to_value};
use vstp::cluster::scope::RUN_LABEL;
use vstp::cluster::{drain, nodes, setups, Budgets, NamespaceKind, Profile, Scope};

mod support;
use support::SimCluster;

async fn scope(client: &kube::Client, run_id: &str) -> Scope {
    let budgets = Budgets::of_sim(client).await.unwrap();
    Scope::open(client, run_id, "usable", NamespaceKind::Plain, budgets)
        .await
        .unwrap()
}

/// Which nodes list interface `name` in their NodeNetworkState.
async fn nodes_with_interface(client: &kube::Client, name: &str) -> Vec<String> {
    let states = kinds::NNS
        .all(client)
        .list(&ListParams::default())
        .await
        .unwrap();
    let mut found: Vec<String> = states
        .items
        .iter()
        .map(to_value)
        .filter(|s| {
            s["status"]["currentState"]["interfaces"]
                .as_array()
                .is_some_and(|all| all.iter().any(|i| i["name"] == name))
        })
        .filter_map(|s| s["metadata"]["name"].as_str().map(String::from))
        .collect();
    found.sort();
    found
}

#[test]
fn a_bridge_set_up_builds_on_the_usable_nodes_with_the_nic_only_and_hands_them_back() {
    let sim = SimCluster::start("usable-bridge", "", 1);
    let client = sim.client();
    let run_id = "20261201-000000-aim1";
    sim.runtime.block_on(async {
        let scope = scope(&client, run_id).await;
        let net = setups::bridged_vlans(&scope, &Profile::default())
            .await
            .unwrap();
        assert_eq!(net.nodes, ["worker-0", "worker-1", "worker-2"]);
        let params = ListParams::default().labels(&format!("{RUN_LABEL}={run_id}"));
        let policies = kinds::NNCP.all(&client).list(&params).await.unwrap();
        let mut aimed: Vec<String> = policies
            .items
            .iter()
            .map(|p| to_value(p)["spec"]["nodeSelector"].to_string())
            .collect();
        aimed.sort();
        assert_eq!(
            aimed,
            ["worker-0", "worker-1", "worker-2"]
                .map(|n| format!("{{\"kubernetes.io/hostname\":\"{n}\"}}"))
        );
        assert_eq!(
            nodes_with_interface(&client, "br-vstp").await,
            ["worker-0", "worker-1", "worker-2"]
        );
        scope.teardown().await.unwrap();
        assert!(nodes_with_interface(&client, "br-vstp").await.is_empty());
    });
    assert!(
        sim.leftovers(run_id).is_empty(),
        "{:?}",
        sim.leftovers(run_id)
    );
}

#[test]
fn a_drain_of_a_node_the_harness_does_not_use_is_refused_with_the_reason() {
    let sim = SimCluster::start("usable-drain", "", 1);
    let client = sim.client();
    sim.runtime.block_on(async {
        let scope = scope(&client, "20261201-000000-drn1").await;
        let budget = std::time::Duration::from_secs(5);
        let down = drain::drain(&scope, "worker-3", budget).await.unwrap_err();
        let text = format!("{down:#}");
        assert!(
            text.contains("node worker-3 is not one the harness uses")
                && text.contains("Kubelet stopped posting node status."),
            "{text}"
        );
        let infra = drain::drain(&scope, "infra-0", budget).await.unwrap_err();
        let text = format!("{infra:#}");
        assert!(
            text.contains("tainted node-role.kubernetes.io/infra=reserved:NoSchedule"),
            "{text}"
        );
        scope.teardown().await.unwrap();
    });
    assert!(
        sim.cordoned_nodes().is_empty(),
        "{:?}",
        sim.cordoned_nodes()
    );
}

#[test]
fn too_few_usable_nodes_with_the_nic_names_every_excluded_node_and_why() {
    let sim = SimCluster::start("usable-few", "", 1);
    let client = sim.client();
    let run_id = "20261201-000000-few1";
    sim.runtime.block_on(async {
        let scope = scope(&client, run_id).await;
        let profile = Profile {
            bridge_nic: "eth1".into(),
            ..Profile::default()
        };
        // Two of the three workers with eth1 cordoned: one usable node with the NIC is left.
        nodes::cordon(&scope, "worker-0").await.unwrap();
        nodes::cordon(&scope, "worker-1").await.unwrap();
        let error = setups::bridged_vlans(&scope, &profile).await.unwrap_err();
        let text = format!("{error:#}");
        for expected in [
            "needs 2 usable node(s), found 1 [\"worker-2\"]",
            "worker-0: cordoned (spec.unschedulable)",
            "worker-3: not Ready (Ready=Unknown NodeStatusUnknown: Kubelet stopped posting node status.)",
            "worker-4: no NIC eth1 in its NodeNetworkState",
            "worker-5: NIC eth1 is a port of bond bond0",
            "infra-0: no kubevirt.io/schedulable label",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
        scope.teardown().await.unwrap();
    });
    assert!(
        sim.leftovers(run_id).is_empty(),
        "{:?}",
        sim.leftovers(run_id)
    );
}

/// What the test saw of the run's policies, in the order the API streamed it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Created(String),
    Available(String),
}

/// Records when each policy of `run_id` first appears and first turns Available.
fn record_policies(client: kube::Client, run_id: &str) -> tokio::sync::watch::Receiver<Vec<Seen>> {
    let (history, seen) = tokio::sync::watch::channel(Vec::new());
    let config = watcher::Config::default().labels(&format!("{RUN_LABEL}={run_id}"));
    tokio::spawn(async move {
        let api = kinds::NNCP.all(&client);
        let mut stream = std::pin::pin!(watcher::watcher(api, config));
        while let Ok(Some(event)) = stream.try_next().await {
            let (watcher::Event::Apply(p) | watcher::Event::InitApply(p)) = event else {
                continue;
            };
            let p = to_value(&p);
            let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
            let available = p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Available" && c["status"] == "True");
            history.send_modify(|seen| {
                for step in [Seen::Created(name.clone()), Seen::Available(name.clone())] {
                    let happened = matches!(step, Seen::Created(_)) || available;
                    if happened && !seen.contains(&step) {
                        seen.push(step);
                    }
                }
            });
        }
    });
    seen
}

/// The per-node copies of a set-up's policy go one at a time: a copy is created only once the
/// one before is Available, and each says `maxUnavailable: 1`.
#[test]
fn a_set_up_applies_its_per_node_policies_one_after_the_other() {
    let sim = SimCluster::start("usable-paced", "", 1);
    let client = sim.client();
    let run_id = "20261201-000000-pace";
    sim.runtime.block_on(async {
        let mut seen = record_policies(client.clone(), run_id);
        let scope = scope(&client, run_id).await;
        let net = setups::bridged_vlans(&scope, &Profile::default())
            .await
            .unwrap();
        assert_eq!(net.nodes.len(), 3);
        let params = ListParams::default().labels(&format!("{RUN_LABEL}={run_id}"));
        let policies = kinds::NNCP.all(&client).list(&params).await.unwrap();
        let mut names: Vec<String> = Vec::new();
        for p in policies.items.iter().map(to_value) {
            assert_eq!(p["spec"]["maxUnavailable"], 1, "{p}");
            names.push(p["metadata"]["name"].as_str().unwrap().to_string());
        }
        names.sort();
        // The recorder's stream may trail the harness's own watch: wait until it saw all.
        let all_seen = seen.wait_for(|seen| {
            names
                .iter()
                .all(|n| seen.contains(&Seen::Available(n.clone())))
        });
        let seen = tokio::time::timeout(std::time::Duration::from_secs(60), all_seen)
            .await
            .expect("the recorder sees every policy Available")
            .unwrap()
            .clone();
        let at = |step: Seen| seen.iter().position(|s| *s == step);
        for pair in names.windows(2) {
            let before = at(Seen::Available(pair[0].clone()));
            let next = at(Seen::Created(pair[1].clone()));
            assert!(
                before < next,
                "{} created before {} was Available: {seen:?}",
                pair[1],
                pair[0]
            );
        }
        scope.teardown().await.unwrap();
    });
}

//! The harness on the simulator's default, untidy cluster (an infra node, a NotReady worker, a
//! worker without the spare NICs): set-ups aim their node network policies at the usable
//! nodes with the NIC only, drains refuse a node the harness does not use, and too few usable
//! nodes is an error that names every excluded node and why.

use kube::api::ListParams;
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

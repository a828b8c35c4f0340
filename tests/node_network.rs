//! Waiting for a node network policy against the simulator: kubernetes-nmstate retries a
//! failed apply, and the policy is Degraded meanwhile; the wait follows it to Available, and
//! fails once an enactment failed for good.

use std::time::Duration;

use kube::api::PostParams;
use vstp::cluster::build::{trunk_bridge, Trunk};
use vstp::cluster::kinds;
use vstp::cluster::nmstate::settled_after;

mod support;
use support::SimCluster;

/// Far more than the five applies with backoff take at the simulator's time scale.
const BUDGET: Duration = Duration::from_secs(30);

/// Creates a trunk bridge on `nic` of worker-0 and waits for it as the scenarios' setups do
/// (aimed at one node by its hostname: the default cluster's workers include a NotReady one
/// and one without the spare NICs).
async fn apply_trunk(
    client: &kube::Client,
    name: &str,
    nic: &str,
) -> anyhow::Result<serde_json::Value> {
    let mut policy = trunk_bridge(name, "br-test", nic, &[Trunk::Id(10)]);
    policy["spec"]["nodeSelector"] = serde_json::json!({"kubernetes.io/hostname": "worker-0"});
    apply_policy(client, name, policy).await
}

/// Creates `policy` (named `name`) and waits until it settles after that creation.
async fn apply_policy(
    client: &kube::Client,
    name: &str,
    policy: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let created = kinds::NNCP
        .api(client, "")
        .create(
            &PostParams::default(),
            &serde_json::from_value(policy).unwrap(),
        )
        .await
        .unwrap();
    settled_after(client, name, &resource_version(&created), BUDGET).await
}

/// The version a wait follows the object from.
fn resource_version(o: &kube::api::DynamicObject) -> String {
    o.metadata.resource_version.clone().unwrap_or_default()
}

#[test]
fn a_policy_degraded_while_its_enactments_retry_is_followed_to_available() {
    let sim = SimCluster::start("nncp-retry", "nncp-apply-flaky=2", 3);
    let client = sim.client();
    let policy = sim
        .runtime
        .block_on(apply_trunk(&client, "retried", "eth1"))
        .expect("the retries succeed and the policy ends Available");
    let available = policy["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Available")
        .unwrap();
    assert_eq!(available["status"], "True");
}

#[test]
fn a_policy_whose_enactment_failed_for_good_is_an_error_naming_it() {
    let sim = SimCluster::start("nncp-failed", "", 4);
    let client = sim.client();
    let error = sim
        .runtime
        .block_on(apply_trunk(&client, "no-such-nic", "eth9"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("NNCP no-such-nic is Degraded: ")
            && error.contains("1/1 nodes failed to configure"),
        "{error}"
    );
    assert!(
        error.contains(".no-such-nic is Failing: error reconciling NodeNetworkConfigurationPolicy"),
        "{error}"
    );
    assert!(error.contains("is holding unknown port eth9"), "{error}");
}

/// The localnet bridge the scenarios build, applied again once OVN plugged a patch port into
/// it (a localnet NAD exists): the builder's `allow-extra-patch-ports: true` keeps nmstate's
/// verification from failing on that port.
#[test]
fn the_localnet_bridge_policy_can_be_applied_again_after_ovn_plugged_its_patch_port() {
    use kube::api::{Patch, PatchParams};
    use vstp::cluster::build::{localnet_nad, ovs_bridge_mapping};
    let sim = SimCluster::start("nncp-localnet", "", 5);
    let client = sim.client();
    let outcome = sim.runtime.block_on(async {
        let mut policy = ovs_bridge_mapping("localnet", "ovs-test", "eth2", "testnet");
        policy["spec"]["nodeSelector"] = serde_json::json!({"kubernetes.io/hostname": "worker-0"});
        apply_policy(&client, "localnet", policy).await.unwrap();
        let nad = localnet_nad("default", "ln10", "testnet", 10);
        kinds::NAD
            .api(&client, "default")
            .create(
                &PostParams::default(),
                &serde_json::from_value(nad).unwrap(),
            )
            .await
            .unwrap();
        let again = serde_json::json!({"spec": {"maxUnavailable": 3}});
        let patched = kinds::NNCP
            .api(&client, "")
            .patch("localnet", &PatchParams::default(), &Patch::Merge(&again))
            .await
            .unwrap();
        settled_after(&client, "localnet", &resource_version(&patched), BUDGET).await
    });
    outcome.expect("the second apply keeps OVN's patch port and succeeds");
}

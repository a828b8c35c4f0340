//! Waits against the simulator's API: a terminal state ends a wait at once, a refusal that
//! cannot heal is not retried, a replay whose history is gone says so, and `holds_for` fails
//! the moment what must hold stops holding. ConfigMaps stand in for any kind: the waits know
//! nothing of what they watch.

use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use vstp::cluster::kinds::{self, Kind};
use vstp::cluster::wait::condition::{is, Condition};
use vstp::cluster::wait::{WaitError, Watch};

mod support;
use support::SimCluster;

/// Longer than any of these waits should take when they work; a wait that uses it all failed.
const BUDGET: Duration = Duration::from_secs(20);

fn state(value: &'static str) -> impl Condition {
    is(format!("state is {value}"), move |o| {
        o["data"]["state"] == value
    })
}

async fn put(client: &kube::Client, name: &str, value: &str) {
    let api = kinds::CONFIG_MAP.api(client, "default");
    let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name}, "data": {"state": value}});
    if api.get_opt(name).await.unwrap().is_some() {
        let patch = json!({"data": {"state": value}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    } else {
        let object = serde_json::from_value(object).unwrap();
        api.create(&PostParams::default(), &object).await.unwrap();
    }
}

#[test]
fn a_terminal_state_ends_the_wait_at_once_naming_the_object_and_its_state() {
    let sim = SimCluster::start("wait-terminal", "", 1);
    let client = sim.client();
    let error = sim.runtime.block_on(async {
        put(&client, "boot", "Starting").await;
        let running = state("Running");
        let wait = Watch::object(&client, kinds::CONFIG_MAP, "default", "boot")
            .failing_on(state("Failed"))
            .until_met(&running, BUDGET);
        let failing = async {
            put(&client, "boot", "Failed").await;
            std::future::pending::<()>().await
        };
        tokio::select! { e = wait => e.unwrap_err(), _ = failing => unreachable!() }
    });
    assert!(matches!(error, WaitError::Terminal { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("gave up waiting for state is Running"),
        "{text}"
    );
    assert!(text.contains("boot is state is Failed"), "{text}");
}

#[test]
fn a_kind_the_server_does_not_serve_is_refused_at_once_not_retried_for_the_budget() {
    let sim = SimCluster::start("wait-refused", "", 2);
    let client = sim.client();
    const MISSING: Kind = Kind {
        group: "nothing.vstp.io",
        version: "v1",
        kind: "Nothing",
        plural: "nothings",
        namespaced: true,
    };
    let started = Instant::now();
    let error = sim.runtime.block_on(async {
        Watch::all(&client, MISSING, "default")
            .until_gone("no Nothing left", BUDGET)
            .await
            .unwrap_err()
    });
    let WaitError::Refused { code, .. } = &error else {
        panic!("not a refusal after {:?}: {error}", started.elapsed())
    };
    assert_eq!(*code, 404, "{error}");
    assert!(
        error
            .to_string()
            .contains("while waiting for no Nothing left"),
        "{error}"
    );
}

/// Short enough that the expected timeout is quick; the check it guards can only pass by
/// seeing a change that happened in the lost history.
const LOST_HISTORY_BUDGET: Duration = Duration::from_secs(2);

#[test]
fn a_replay_whose_history_expired_goes_on_from_the_present_and_its_timeout_says_so() {
    let sim = SimCluster::start("wait-expired", "", 3);
    let client = sim.client();
    let since = sim.runtime.block_on(async {
        put(&client, "step", "zero").await;
        let api = kinds::CONFIG_MAP.api(&client, "default");
        let read = api.get("step").await.unwrap();
        put(&client, "step", "one").await;
        put(&client, "step", "two").await;
        read.metadata.resource_version.unwrap()
    });
    sim.compact();
    let (present, missed) = sim.runtime.block_on(async {
        let watch = || Watch::object(&client, kinds::CONFIG_MAP, "default", "step").since(&since);
        let present = watch().until_met(&state("two"), BUDGET).await;
        let missed = watch().until_met(&state("one"), LOST_HISTORY_BUDGET).await;
        (present, missed.unwrap_err())
    });
    assert!(
        present.is_ok(),
        "the present state was not seen: {present:?}"
    );
    assert!(matches!(missed, WaitError::Timeout { .. }), "{missed}");
    let text = missed.to_string();
    assert!(
        text.contains(&format!(
            "history after resourceVersion {since} expired (410)"
        )),
        "{text}"
    );
}

#[test]
fn holds_for_passes_a_quiet_window_and_fails_when_the_property_breaks() {
    let sim = SimCluster::start("wait-holds", "", 4);
    let client = sim.client();
    let window = Duration::from_millis(500);
    sim.runtime.block_on(put(&client, "steady", "up"));
    let quiet = sim.runtime.block_on(
        Watch::object(&client, kinds::CONFIG_MAP, "default", "steady").keeps(&state("up"), window),
    );
    assert!(quiet.is_ok(), "{quiet:?}");
    let error = sim.runtime.block_on(async {
        let up = state("up");
        let watch =
            Watch::object(&client, kinds::CONFIG_MAP, "default", "steady").keeps(&up, BUDGET);
        let breaking = async {
            put(&client, "steady", "down").await;
            std::future::pending::<()>().await
        };
        tokio::select! { e = watch => e.unwrap_err(), _ = breaking => unreachable!() }
    });
    assert!(matches!(error, WaitError::Broken { .. }), "{error}");
    assert!(
        error.to_string().contains("state is up stopped holding"),
        "{error}"
    );
}

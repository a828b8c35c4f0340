//! Watches: event order, resume, 410 after compaction, streaming lists, selector transitions,
//! and concurrent writers.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{raw, start, vm, vms};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;

const BUDGET: Duration = Duration::from_secs(10);

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "0"}})).unwrap()
}

async fn next<T>(stream: &mut (impl futures::Stream<Item = T> + Unpin)) -> T {
    tokio::time::timeout(BUDGET, stream.next())
        .await
        .expect("an event within the budget")
        .expect("the stream is still open")
}

#[tokio::test]
async fn added_modified_deleted_in_order_from_a_resource_version() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let made = api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let rv = made.metadata.resource_version.clone().unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "1"}})),
    )
    .await
    .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let mut events = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next(&mut events).await.unwrap() {
        WatchEvent::Modified(c) => assert_eq!(c.data.unwrap()["k"], "1"),
        other => panic!("expected MODIFIED, got {other:?}"),
    }
    assert!(matches!(
        next(&mut events).await.unwrap(),
        WatchEvent::Deleted(_)
    ));
}

#[tokio::test]
async fn expired_resource_version_is_an_error_event_and_the_watcher_relists() {
    let (sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let made = api
        .create(&PostParams::default(), &cm("old"))
        .await
        .unwrap();
    let change = Patch::Merge(json!({"data": {"k": "1"}}));
    api.patch("old", &PatchParams::default(), &change)
        .await
        .unwrap();
    sim.store().compact();
    let rv = made.metadata.resource_version.unwrap();
    let mut raw_events = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next(&mut raw_events).await {
        Ok(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 410),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }

    // kube's watcher: listed and watching; then its resourceVersion expires (changes it does
    // not watch, compaction) and its stream is cut. It must re-list (a second Init) and go on.
    let mut seen = watcher(api.clone(), watcher::Config::default()).boxed();
    while !matches!(next(&mut seen).await.unwrap(), watcher::Event::InitDone) {}
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, "default");
    let secret = serde_json::from_value(json!({"metadata": {"name": "s"}})).unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    sim.store().compact();
    sim.store().disconnect_watches();
    let mut expired = false;
    loop {
        match next(&mut seen).await {
            Err(watcher::Error::WatchError(s)) if s.code == 410 => expired = true,
            Ok(watcher::Event::Init) => break,
            other => panic!("expected a 410 and then a re-list, got {other:?}"),
        }
    }
    assert!(
        expired,
        "the watcher re-listed because its resourceVersion had expired"
    );
    api.create(&PostParams::default(), &cm("new"))
        .await
        .unwrap();
    let mut names = HashSet::new();
    while !(names.contains("new") && names.contains("old")) {
        match next(&mut seen).await.unwrap() {
            watcher::Event::InitApply(c) | watcher::Event::Apply(c) => {
                names.insert(c.metadata.name.unwrap());
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn streaming_list_ends_initial_events_with_a_bookmark() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for n in ["a", "b"] {
        api.create(&PostParams::default(), &cm(n)).await.unwrap();
    }
    let mut s = watcher(api, watcher::Config::default().streaming_lists()).boxed();
    let mut got = Vec::new();
    loop {
        match next(&mut s).await.unwrap() {
            watcher::Event::Init => got.push("Init".to_string()),
            watcher::Event::InitApply(c) => got.push(c.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, ["Init", "a", "b"]);
}

#[tokio::test]
async fn selector_watch_sees_objects_enter_and_leave_the_selection() {
    let (_sim, client) = start().await;
    let api = vms(&client, "default");
    let made = api
        .create(&PostParams::default(), &vm("vm1"))
        .await
        .unwrap();
    let rv = made.metadata.resource_version.unwrap();
    let wp = WatchParams::default().labels("stage=live");
    let mut events = api.watch(&wp, &rv).await.unwrap().boxed();
    let label = |v: Option<&str>| Patch::Merge(json!({"metadata": {"labels": {"stage": v}}}));
    api.patch("vm1", &PatchParams::default(), &label(Some("live")))
        .await
        .unwrap();
    api.patch(
        "vm1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"runStrategy": "Always"}})),
    )
    .await
    .unwrap();
    api.patch("vm1", &PatchParams::default(), &label(None))
        .await
        .unwrap();
    assert!(matches!(
        next(&mut events).await.unwrap(),
        WatchEvent::Added(_)
    ));
    assert!(matches!(
        next(&mut events).await.unwrap(),
        WatchEvent::Modified(_)
    ));
    assert!(matches!(
        next(&mut events).await.unwrap(),
        WatchEvent::Deleted(_)
    ));
}

#[tokio::test]
async fn bookmarks_and_timeout_end_the_stream() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let wp = WatchParams::default().timeout(1);
    let events: Vec<_> = api
        .watch(&wp, "0")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        events.is_empty(),
        "an idle watch with no objects ends after its timeout: {events:?}"
    );
    let path = "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1";
    let req = http::Request::get(path).body(Vec::new()).unwrap();
    let text = client.request_text(req).await.unwrap();
    let bookmark: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}

#[tokio::test]
async fn concurrent_writers_get_increasing_versions_and_watchers_miss_nothing() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    const WRITERS: usize = 8;
    const WRITES: usize = 25;
    for w in 0..WRITERS {
        api.create(&PostParams::default(), &cm(&format!("w{w}")))
            .await
            .unwrap();
    }
    let (_, list) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        vec![],
    )
    .await;
    let start_rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut events = api
        .watch(&WatchParams::default(), &start_rv)
        .await
        .unwrap()
        .boxed();
    let writers = (0..WRITERS).map(|w| {
        let api = api.clone();
        tokio::spawn(async move {
            for i in 1..=WRITES {
                let p = Patch::Merge(json!({"data": {"k": i.to_string()}}));
                api.patch(&format!("w{w}"), &PatchParams::default(), &p)
                    .await
                    .unwrap();
            }
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await.unwrap();
    }
    let mut last_rv = start_rv.parse::<u64>().unwrap();
    let mut last_value = vec![0usize; WRITERS];
    for _ in 0..WRITERS * WRITES {
        let WatchEvent::Modified(c) = next(&mut events).await.unwrap() else {
            panic!("only modifications were made");
        };
        let rv: u64 = c.metadata.resource_version.unwrap().parse().unwrap();
        assert!(rv > last_rv, "resourceVersion {rv} after {last_rv}");
        last_rv = rv;
        let w: usize = c.metadata.name.unwrap()[1..].parse().unwrap();
        let value: usize = c.data.unwrap()["k"].parse().unwrap();
        assert_eq!(
            value,
            last_value[w] + 1,
            "writer {w}'s updates arrive in order"
        );
        last_value[w] = value;
    }
    assert_eq!(last_value, vec![WRITES; WRITERS]);
}

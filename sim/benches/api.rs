//! API latency benchmark (prints a table; not a timed test).
//!
//! `cargo bench -p vstp-sim --bench api`: with 1,000 objects and 50 concurrent watchers it
//! measures create, get and merge-patch latency through kube-rs over TLS, and watch delivery
//! latency: from the moment a patch is issued to the moment each watcher holds the event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use tokio::sync::Mutex;
use vstp_sim::{Sim, SimConfig};

const OBJECTS: usize = 1_000;
const WATCHERS: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn row(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {name:<24} | {:>7} | {:>8.3} | {:>8.3} | {:>8.3} |",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap())
    );
}

async fn timed<T, F: std::future::Future<Output = T>>(f: F) -> (T, Duration) {
    let t = Instant::now();
    let out = f.await;
    (out, t.elapsed())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sim = Sim::start(SimConfig::default())
        .await
        .expect("simulator starts");
    let file = kube::config::Kubeconfig::from_yaml(&sim.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let (mut creates, mut gets, mut patches) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..OBJECTS {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("cm-{i}")}, "data": {"sent": "0"}}),
        )
        .unwrap();
        let (r, d) = timed(api.create(&PostParams::default(), &cm)).await;
        r.unwrap();
        creates.push(d);
    }
    for i in 0..OBJECTS {
        let (r, d) = timed(api.get(&format!("cm-{i}"))).await;
        r.unwrap();
        gets.push(d);
    }

    let epoch = Instant::now();
    let rv = sim.store().resource_version().to_string();
    let deliveries = Arc::new(Mutex::new(Vec::with_capacity(OBJECTS * WATCHERS)));
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let mut stream = api
            .watch(&WatchParams::default(), &rv)
            .await
            .unwrap()
            .boxed();
        let deliveries = deliveries.clone();
        watchers.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(OBJECTS);
            while mine.len() < OBJECTS {
                let Some(Ok(WatchEvent::Modified(cm))) = stream.next().await else {
                    panic!("watch ended early");
                };
                let now = epoch.elapsed();
                let sent: u64 = cm.data.unwrap()["sent"].parse().unwrap();
                mine.push(now - Duration::from_nanos(sent));
            }
            deliveries.lock().await.extend(mine);
        }));
    }
    for i in 0..OBJECTS {
        let sent = epoch.elapsed().as_nanos().to_string();
        let p = Patch::Merge(json!({"data": {"sent": sent}}));
        let (r, d) = timed(api.patch(&format!("cm-{i}"), &PatchParams::default(), &p)).await;
        r.unwrap();
        patches.push(d);
    }
    for w in watchers {
        w.await.unwrap();
    }
    let deliveries = std::mem::take(&mut *deliveries.lock().await);

    println!("vstp-sim API latency, {OBJECTS} objects, {WATCHERS} watchers, kube-rs over TLS on 127.0.0.1\n");
    println!("| operation                | samples | p50 (ms) | p99 (ms) | max (ms) |");
    println!("|--------------------------|---------|----------|----------|----------|");
    row("create", creates);
    row("get", gets);
    row("patch (merge)", patches);
    row("watch delivery", deliveries);
}

//! Boots 100 VMs and migrates all of them on the simulated cluster at the default time
//! scale; prints wall time and peak RSS. Goal on a 2-core machine: under 10 s, under 500 MB.

use std::time::{Duration, Instant};

use futures::TryStreamExt;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use serde_json::{json, Value};
use vstp_sim::{Sim, SimConfig};

const VMS: usize = 100;

fn ar(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("kubevirt.io", "v1", kind), plural)
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Watches `api` until `count` objects satisfy `done`.
async fn until_all(api: &Api<DynamicObject>, count: usize, done: impl Fn(&Value) -> bool) {
    let mut ok = std::collections::HashSet::new();
    let mut stream = std::pin::pin!(watcher::watcher(api.clone(), Default::default()));
    let wait = async {
        while let Some(ev) = stream.try_next().await.expect("watch") {
            if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) = ev {
                let v = serde_json::to_value(&o).unwrap();
                if done(&v) {
                    ok.insert(o.metadata.name.clone().unwrap_or_default());
                }
                if ok.len() >= count {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), wait)
        .await
        .expect("the fleet finished within 120 s");
}

#[tokio::main]
async fn main() {
    let sim = Sim::start(SimConfig::cluster(Default::default()).unwrap())
        .await
        .unwrap();
    let file = kube::config::Kubeconfig::from_yaml(&sim.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let vms: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ar("VirtualMachine", "virtualmachines"),
    );
    let vmis: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ar("VirtualMachineInstance", "virtualmachineinstances"),
    );
    let vmims: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ar(
            "VirtualMachineInstanceMigration",
            "virtualmachineinstancemigrations",
        ),
    );
    let start = Instant::now();
    for i in 0..VMS {
        let vm: DynamicObject = serde_json::from_value(json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
            "metadata": {"name": format!("vm{i}")},
            "spec": {"runStrategy": "Always", "template": {"spec": {"domain": {"memory": {"guest": "1Gi"}, "devices": {}}}}}})).unwrap();
        vms.create(&PostParams::default(), &vm).await.unwrap();
    }
    let agent = |v: &Value| {
        v["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "AgentConnected" && c["status"] == "True")
        })
    };
    until_all(&vmis, VMS, agent).await;
    let booted = start.elapsed();
    for i in 0..VMS {
        let m: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
            "metadata": {"name": format!("mig{i}")}, "spec": {"vmiName": format!("vm{i}")}}),
        )
        .unwrap();
        vmims.create(&PostParams::default(), &m).await.unwrap();
    }
    until_all(&vmims, VMS, |v| v["status"]["phase"] == "Succeeded").await;
    let total = start.elapsed();
    println!(
        "world benchmark: {VMS} VMs, time scale {}",
        vstp_sim::DEFAULT_TIME_SCALE
    );
    println!("  boot to guest agent: {:>7.2} s", booted.as_secs_f64());
    println!(
        "  + migrate all:       {:>7.2} s",
        (total - booted).as_secs_f64()
    );
    println!(
        "  wall time:           {:>7.2} s   (goal < 10 s)",
        total.as_secs_f64()
    );
    println!(
        "  peak RSS:            {:>7.1} MB  (goal < 500 MB)",
        peak_rss_mb()
    );
}

//! The simulated OpenShift Virtualization world, observed through kube::Api as a scenario
//! would: boot, guest SSH, migrations and their policies, admission, drain and hotplug.

mod common;

use std::io::Read;
use std::time::Duration;

use futures::{SinkExt, StreamExt, TryStreamExt};
use hyper_util::rt::TokioIo;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{self, protocol::Role, Message};
use vstp_sim::{SimConfig, SimHandle};

use common::*;

const PUBLIC_KEY: &str = include_str!("../../fixtures/ssh/test_ed25519.pub");
const KEY_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/ssh/test_ed25519");
const OTHER_KEY_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/ssh/other_ed25519");
/// Real seconds any flow may take at the default time scale (60×).
const BUDGET: Duration = Duration::from_secs(30);

async fn cluster() -> (SimHandle, kube::Client) {
    start_with(SimConfig::cluster(Default::default()).unwrap()).await
}

fn api(client: &kube::Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let (group, version) = match kind {
        "MigrationPolicy" => ("migrations.kubevirt.io", "v1alpha1"),
        "Pod" | "Node" => ("", "v1"),
        _ => ("kubevirt.io", "v1"),
    };
    let ar = resource(group, version, kind, plural);
    match kind {
        "MigrationPolicy" | "Node" => Api::all_with(client.clone(), &ar),
        _ => Api::namespaced_with(client.clone(), "default", &ar),
    }
}

fn vmis(c: &kube::Client) -> Api<DynamicObject> {
    api(c, "VirtualMachineInstance", "virtualmachineinstances")
}
fn vmims(c: &kube::Client) -> Api<DynamicObject> {
    api(
        c,
        "VirtualMachineInstanceMigration",
        "virtualmachineinstancemigrations",
    )
}
fn pods(c: &kube::Client) -> Api<DynamicObject> {
    api(c, "Pod", "pods")
}

fn value(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap()
}

fn cond(o: &Value, ty: &str) -> Option<String> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
        .map(|c| c["status"].as_str().unwrap_or("").to_string())
}

/// A RHEL VM with our key through cloud-init; `extra` is merged into the template spec.
fn rhel_vm(name: &str, extra: Value) -> DynamicObject {
    let mut spec = json!({
        "domain": {"cpu": {"sockets": 1, "cores": 2, "threads": 1}, "memory": {"guest": "1Gi"},
                   "devices": {"interfaces": [{"name": "default", "masquerade": {}}]}},
        "networks": [{"name": "default", "pod": {}}],
        "volumes": [{"name": "cloudinit", "cloudInitNoCloud": {"userData": format!("#cloud-config\nuser: cloud-user\nssh_authorized_keys:\n  - {}", PUBLIC_KEY.trim())}}],
    });
    json_patch::merge(&mut spec, &extra);
    serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"runStrategy": "Always", "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
    })).unwrap()
}

/// Waits (watching) until `pred` holds for object `name`; returns it.
async fn until(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let stream = watcher::watcher(api.clone(), cfg);
    let found = tokio::time::timeout(BUDGET, async {
        let mut stream = std::pin::pin!(stream);
        let mut last = Value::Null;
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) = ev {
                last = value(&o);
                if pred(&last) {
                    return last;
                }
            }
        }
        last
    })
    .await;
    found.unwrap_or_else(|_| panic!("{name} did not become {what} within {BUDGET:?}"))
}

async fn boot(client: &kube::Client, name: &str, extra: Value) -> Value {
    api(client, "VirtualMachine", "virtualmachines")
        .create(&PostParams::default(), &rhel_vm(name, extra))
        .await
        .unwrap();
    until(&vmis(client), name, "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await
}

/// Runs `command` in the guest over SSH (libssh2) through the VMI port-forward websocket.
async fn ssh(
    client: &kube::Client,
    vmi: &str,
    key_file: &str,
    command: &str,
) -> Result<(String, i32), String> {
    let path = format!("/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances/{vmi}/portforward/22/tcp");
    let key = tungstenite::handshake::client::generate_key();
    let req = http::Request::get(path)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .header(http::header::SEC_WEBSOCKET_KEY, &key)
        .header(http::header::SEC_WEBSOCKET_PROTOCOL, "plain.kubevirt.io")
        .body(kube::client::Body::empty())
        .unwrap();
    let res = client.send(req).await.map_err(|e| e.to_string())?;
    if res.status() != 101 {
        return Err(format!("port-forward answered {}", res.status()));
    }
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(hyper::upgrade::on(res).await.unwrap()),
        Role::Client,
        None,
    )
    .await;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    theirs.set_nonblocking(true).unwrap();
    let theirs = tokio::net::UnixStream::from_std(theirs).unwrap();
    tokio::spawn(bridge(ws, theirs));
    let (key_file, command) = (key_file.to_string(), command.to_string());
    tokio::task::spawn_blocking(move || {
        let mut s = ssh2::Session::new().unwrap();
        s.set_tcp_stream(ours);
        s.set_timeout(10_000);
        s.handshake().map_err(|e| e.to_string())?;
        s.userauth_pubkey_file("cloud-user", None, std::path::Path::new(&key_file), None)
            .map_err(|e| e.to_string())?;
        let mut ch = s.channel_session().map_err(|e| e.to_string())?;
        ch.exec(&command).map_err(|e| e.to_string())?;
        let mut out = String::new();
        ch.read_to_string(&mut out).map_err(|e| e.to_string())?;
        ch.wait_close().map_err(|e| e.to_string())?;
        Ok((out, ch.exit_status().map_err(|e| e.to_string())?))
    })
    .await
    .unwrap()
}

async fn bridge<
    S: futures::Stream<Item = Result<Message, tungstenite::Error>> + futures::Sink<Message> + Unpin,
>(
    ws: S,
    unix: tokio::net::UnixStream,
) {
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (mut rd, mut wr) = unix.into_split();
    let up = async move {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0
                || ws_tx
                    .send(Message::binary(buf[..n].to_vec()))
                    .await
                    .is_err()
            {
                break;
            }
        }
    };
    let down = async move {
        while let Some(Ok(m)) = ws_rx.next().await {
            match m {
                Message::Binary(b) if wr.write_all(&b).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    tokio::join!(up, down);
}

#[tokio::test]
async fn a_vm_boots_through_the_upstream_phases_with_its_launcher_pod_and_guest_agent() {
    let (_sim, client) = cluster().await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let phases: Vec<&str> = vmi["status"]["phaseTransitionTimestamps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["Pending", "Scheduling", "Scheduled", "Running"]);
    assert_eq!(cond(&vmi, "Ready").as_deref(), Some("True"));
    assert_eq!(cond(&vmi, "LiveMigratable").as_deref(), Some("True"));
    let node = vmi["status"]["nodeName"].as_str().unwrap();
    assert!(node.starts_with("worker-"), "{node}");
    assert_eq!(vmi["metadata"]["labels"]["kubevirt.io/nodeName"], node);
    assert_eq!(
        vmi["status"]["currentCPUTopology"],
        json!({"sockets": 1, "cores": 2, "threads": 1})
    );
    assert_eq!(vmi["status"]["memory"]["guestAtBoot"], "1Gi");
    assert_eq!(
        vmi["spec"]["domain"]["cpu"]["maxSockets"], 4,
        "maxSockets = sockets × maxHotplugRatio"
    );
    let iface = &vmi["status"]["interfaces"][0];
    assert_eq!(iface["infoSource"], "domain, guest-agent");
    assert_eq!(iface["podInterfaceName"], "eth0");
    assert_eq!(iface["interfaceName"], "eth0");
    // KubeMacPool gave the template interface its MAC, and the VMI uses it.
    let vm = value(
        &api(&client, "VirtualMachine", "virtualmachines")
            .get("vm1")
            .await
            .unwrap(),
    );
    assert_eq!(
        vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0]["macAddress"],
        iface["mac"]
    );
    assert_eq!(vm["status"]["printableStatus"], "Running");
    let pods = pods(&client)
        .list(&kube::api::ListParams::default().labels("kubevirt.io=virt-launcher"))
        .await
        .unwrap();
    let pod = value(&pods.items[0]);
    assert!(pod["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("virt-launcher-vm1-"));
    assert_eq!(
        pod["metadata"]["labels"]["kubevirt.io/created-by"],
        vmi["metadata"]["uid"]
    );
    assert_eq!(pod["spec"]["nodeName"], node);
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(
        vmi["status"]["interfaces"][0]["ipAddress"],
        pod["status"]["podIP"]
    );
}

#[tokio::test]
async fn guest_ssh_answers_linux_commands_in_their_real_formats_and_refuses_unknown_keys() {
    let (_sim, client) = cluster().await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let (boot_id, code) = ssh(
        &client,
        "vm1",
        KEY_FILE,
        "cat /proc/sys/kernel/random/boot_id",
    )
    .await
    .unwrap();
    assert_eq!(code, 0);
    assert_eq!(boot_id.trim().len(), 36, "a UUID: {boot_id}");
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, "nproc").await.unwrap().0,
        "2\n"
    );
    let (links, _) = ssh(&client, "vm1", KEY_FILE, "ip -j link").await.unwrap();
    let links: Value = serde_json::from_str(&links).unwrap();
    assert_eq!(links[1]["ifname"], "eth0");
    assert_eq!(links[1]["address"], vmi["status"]["interfaces"][0]["mac"]);
    let (pid, _) = ssh(
        &client,
        "vm1",
        KEY_FILE,
        "stress-ng --vm 1 --vm-bytes 350M --vm-keep >/dev/null 2>&1 & echo $!",
    )
    .await
    .unwrap();
    let pid: u32 = pid.trim().parse().unwrap();
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, &format!("kill -0 {pid}"))
            .await
            .unwrap()
            .1,
        0
    );
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, "kill -0 999999")
            .await
            .unwrap()
            .1,
        1
    );
    let (out, code) = ssh(&client, "vm1", KEY_FILE, "frobnicate --now")
        .await
        .unwrap();
    assert_eq!((out.as_str(), code), ("", 127));
    let err = ssh(&client, "vm1", OTHER_KEY_FILE, "true")
        .await
        .unwrap_err();
    assert!(err.contains("bad username/public key combination"), "{err}");
}

/// Every distinct (phase) of a VMIM as a watch sees it, until it is final.
async fn phases_of(client: &kube::Client, name: &str) -> (Vec<String>, Value) {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut seen: Vec<String> = Vec::new();
    let last = tokio::time::timeout(BUDGET, async {
        let mut stream = std::pin::pin!(watcher::watcher(vmims(client), cfg));
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) = ev {
                let v = value(&o);
                for p in v["status"]["phaseTransitionTimestamps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let p = p["phase"].as_str().unwrap().to_string();
                    if !seen.contains(&p) {
                        seen.push(p);
                    }
                }
                if matches!(v["status"]["phase"].as_str(), Some("Succeeded" | "Failed")) {
                    return v;
                }
            }
        }
        Value::Null
    })
    .await
    .expect("the migration finished in time");
    (seen, last)
}

fn migration(vmi: &str) -> DynamicObject {
    serde_json::from_value(
        json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"generateName": "mig-", "namespace": "default"}, "spec": {"vmiName": vmi}}),
    )
    .unwrap()
}

#[tokio::test]
async fn a_migration_runs_every_phase_and_keeps_the_guest() {
    let (_sim, client) = cluster().await;
    let before = boot(&client, "vm1", json!({})).await;
    let (boot_id, _) = ssh(
        &client,
        "vm1",
        KEY_FILE,
        "cat /proc/sys/kernel/random/boot_id",
    )
    .await
    .unwrap();
    let (pid, _) = ssh(&client, "vm1", KEY_FILE, "sleep 10000 & echo $!")
        .await
        .unwrap();
    let m = vmims(&client)
        .create(&PostParams::default(), &migration("vm1"))
        .await
        .unwrap();
    let m = value(&m);
    assert_eq!(m["metadata"]["labels"]["kubevirt.io/vmi-name"], "vm1");
    assert_eq!(
        m["metadata"]["finalizers"],
        json!(["kubevirt.io/migrationJobFinalize"])
    );
    let name = m["metadata"]["name"].as_str().unwrap();
    let (phases, last) = phases_of(&client, name).await;
    assert_eq!(
        phases,
        [
            "Pending",
            "Scheduling",
            "Scheduled",
            "PreparingTarget",
            "TargetReady",
            "Running",
            "Succeeded"
        ]
    );
    let vmi = value(&vmis(&client).get("vm1").await.unwrap());
    let s = &vmi["status"]["migrationState"];
    assert_eq!(s["migrationUid"], m["metadata"]["uid"]);
    assert_eq!(s["completed"], true);
    assert_eq!(s["failed"], false);
    assert_eq!(s["mode"], "PreCopy");
    assert_eq!(s["sourceNode"], before["status"]["nodeName"]);
    assert_eq!(s["targetNode"], vmi["status"]["nodeName"]);
    assert_ne!(s["targetNode"], s["sourceNode"]);
    for field in [
        "startTimestamp",
        "endTimestamp",
        "targetNodeDomainReadyTimestamp",
        "targetNodeAddress",
        "sourcePod",
        "targetPod",
    ] {
        assert!(!s[field].is_null(), "migrationState.{field} is set");
    }
    assert!(s["migrationPolicyName"].is_null(), "no policy matched");
    assert_eq!(
        s["migrationConfiguration"]["allowWorkloadDisruption"],
        false
    );
    assert_eq!(
        last["status"]["migrationState"]["migrationUid"],
        m["metadata"]["uid"]
    );
    assert_eq!(vmi["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        vmi["status"]["interfaces"][0]["mac"],
        before["status"]["interfaces"][0]["mac"]
    );
    let source = value(
        &pods(&client)
            .get(s["sourcePod"].as_str().unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(source["status"]["phase"], "Succeeded");
    assert_eq!(
        ssh(
            &client,
            "vm1",
            KEY_FILE,
            "cat /proc/sys/kernel/random/boot_id"
        )
        .await
        .unwrap()
        .0,
        boot_id
    );
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, &format!("kill -0 {}", pid.trim()))
            .await
            .unwrap()
            .1,
        0
    );
    // The finalizer goes once the migration is final.
    let gone = until(&vmims(&client), name, "without finalizer", |v| {
        v["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty())
    })
    .await;
    assert_eq!(gone["status"]["phase"], "Succeeded");
}

#[tokio::test]
async fn migration_admission_rejects_with_the_upstream_messages() {
    let (_sim, client) = cluster().await;
    let err = api_error(
        vmims(&client)
            .create(&PostParams::default(), &migration("ghost"))
            .await
            .unwrap_err(),
    );
    assert!(
        err.message
            .contains("the VMI \"default/ghost\" does not exist"),
        "{}",
        err.message
    );
    boot(&client, "vm1", json!({})).await;
    let mut prioritised = migration("vm1");
    prioritised.data["spec"]["priority"] = json!("system-critical");
    let err = api_error(
        vmims(&client)
            .create(&PostParams::default(), &prioritised)
            .await
            .unwrap_err(),
    );
    assert!(
        err.message
            .contains("only virt-controller is allowed to set priority field"),
        "{}",
        err.message
    );
    let first = value(
        &vmims(&client)
            .create(&PostParams::default(), &migration("vm1"))
            .await
            .unwrap(),
    );
    let err = api_error(
        vmims(&client)
            .create(&PostParams::default(), &migration("vm1"))
            .await
            .unwrap_err(),
    );
    assert!(
        err.message.contains(&format!(
            "in-flight migration detected. Active migration job ({})",
            first["metadata"]["uid"].as_str().unwrap()
        )),
        "{}",
        err.message
    );
    // A pod-network bridge is not migratable.
    let bridged =
        json!({"domain": {"devices": {"interfaces": [{"name": "default", "bridge": {}}]}}});
    boot(&client, "vm2", bridged).await;
    let err = api_error(
        vmims(&client)
            .create(&PostParams::default(), &migration("vm2"))
            .await
            .unwrap_err(),
    );
    assert!(
        err.message
            .contains("Cannot migrate VMI, Reason: InterfaceNotLiveMigratable"),
        "{}",
        err.message
    );
}

async fn policy(client: &kube::Client, spec: Value) {
    let p: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "migrations.kubevirt.io/v1alpha1", "kind": "MigrationPolicy",
        "metadata": {"name": "slow"}, "spec": spec}),
    )
    .unwrap();
    api(client, "MigrationPolicy", "migrationpolicies")
        .create(&PostParams::default(), &p)
        .await
        .unwrap();
}

async fn stressed_migration(policy_spec: Value) -> (kube::Client, Value, Value, SimHandle) {
    let (sim, client) = cluster().await;
    let mut spec = json!({"selectors": {"virtualMachineInstanceSelector": {"app": "vm1"}}, "bandwidthPerMigration": "5Mi", "completionTimeoutPerGiB": 20});
    json_patch::merge(&mut spec, &policy_spec);
    policy(&client, spec).await;
    boot(&client, "vm1", json!({})).await;
    ssh(
        &client,
        "vm1",
        KEY_FILE,
        "stress-ng --vm 1 --vm-bytes 350M --vm-keep >/dev/null 2>&1 &",
    )
    .await
    .unwrap();
    let m = value(
        &vmims(&client)
            .create(&PostParams::default(), &migration("vm1"))
            .await
            .unwrap(),
    );
    let (_, last) = phases_of(&client, m["metadata"]["name"].as_str().unwrap()).await;
    let vmi = value(&vmis(&client).get("vm1").await.unwrap());
    (client, last, vmi, sim)
}

#[tokio::test]
async fn a_dirtying_guest_under_a_slow_policy_with_awd_is_paused_to_finish() {
    let (client, last, vmi, _sim) =
        stressed_migration(json!({"allowWorkloadDisruption": true})).await;
    assert_eq!(last["status"]["phase"], "Succeeded");
    let s = &vmi["status"]["migrationState"];
    assert_eq!(s["mode"], "Paused");
    assert_eq!(s["migrationPolicyName"], "slow");
    assert_eq!(s["migrationConfiguration"]["bandwidthPerMigration"], "5Mi");
    assert_eq!(
        cond(&vmi, "Paused"),
        None,
        "Paused is gone after the migration"
    );
    drop(client);
}

#[tokio::test]
async fn post_copy_when_the_policy_allows_it() {
    let (_c, last, vmi, _sim) = stressed_migration(json!({"allowPostCopy": true})).await;
    assert_eq!(last["status"]["phase"], "Succeeded");
    assert_eq!(vmi["status"]["migrationState"]["mode"], "PostCopy");
    assert_eq!(
        vmi["status"]["migrationState"]["migrationConfiguration"]["allowWorkloadDisruption"],
        true
    );
}

#[tokio::test]
async fn without_awd_a_non_converging_migration_aborts() {
    let (_c, last, vmi, _sim) = stressed_migration(json!({})).await;
    assert_eq!(last["status"]["phase"], "Failed");
    let s = &vmi["status"]["migrationState"];
    assert_eq!(
        (s["completed"].clone(), s["failed"].clone()),
        (json!(true), json!(true))
    );
    assert!(
        s["failureReason"]
            .as_str()
            .unwrap()
            .contains("not completed after 20 sec"),
        "{}",
        s["failureReason"]
    );
    assert_eq!(vmi["status"]["nodeName"], s["sourceNode"]);
}

#[tokio::test]
async fn an_idle_guest_converges_in_precopy_even_under_the_slow_policy() {
    let (_sim, client) = cluster().await;
    policy(&client, json!({"selectors": {"virtualMachineInstanceSelector": {"app": "vm1"}}, "bandwidthPerMigration": "64Mi", "completionTimeoutPerGiB": 20, "allowWorkloadDisruption": true})).await;
    boot(&client, "vm1", json!({})).await;
    let m = value(
        &vmims(&client)
            .create(&PostParams::default(), &migration("vm1"))
            .await
            .unwrap(),
    );
    let (_, last) = phases_of(&client, m["metadata"]["name"].as_str().unwrap()).await;
    assert_eq!(last["status"]["phase"], "Succeeded");
    assert_eq!(last["status"]["migrationState"]["mode"], "PreCopy");
}

#[tokio::test]
async fn eviction_is_refused_with_429_while_an_evacuation_migrates_the_vmi() {
    let (sim, client) = cluster().await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let node = vmi["status"]["nodeName"].as_str().unwrap().to_string();
    let pod = pods(&client)
        .list(&kube::api::ListParams::default().labels("kubevirt.io=virt-launcher"))
        .await
        .unwrap()
        .items[0]
        .clone();
    let pod_name = pod.metadata.name.clone().unwrap();
    let strict = client_without_retry(&sim).await;
    let core: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(strict, "default");
    let err = api_error(
        core.evict(&pod_name, &Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 429);
    assert_eq!(
        err.message,
        "Eviction triggered evacuation of VMI \"default/vm1\""
    );
    let err = api_error(
        core.evict(&pod_name, &Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err.message,
        "Evacuation in progress: Eviction triggered evacuation of VMI \"default/vm1\""
    );
    let moved = until(&vmis(&client), "vm1", "moved", |v| {
        v["status"]["nodeName"].as_str().is_some_and(|n| n != node)
            && v["status"]["migrationState"]["completed"] == true
    })
    .await;
    assert!(moved["status"]["evacuationNodeName"].is_null());
    assert_eq!(cond(&moved, "EvictionRequested"), None);
    let list = vmims(&client).list(&Default::default()).await.unwrap();
    assert_eq!(list.items.len(), 1, "exactly one evacuation migration");
    let m = value(&list.items[0]);
    assert!(m["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("kubevirt-evacuation-"));
    assert_eq!(
        m["metadata"]["annotations"]["kubevirt.io/evacuationMigration"],
        node.as_str()
    );
    assert_eq!(m["spec"]["priority"], "system-critical");
    core.evict(&pod_name, &Default::default())
        .await
        .expect("a completed source pod may go");
}

#[tokio::test]
async fn cpu_hotplug_migrates_and_the_guest_sees_the_new_vcpus() {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    let patch = json!([{"op": "test", "path": "/spec/template/spec/domain/cpu/sockets", "value": 1},
                       {"op": "replace", "path": "/spec/template/spec/domain/cpu/sockets", "value": 2}]);
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    api(&client, "VirtualMachine", "virtualmachines")
        .patch("vm1", &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .unwrap();
    until(&vmis(&client), "vm1", "HotVCPUChange", |v| {
        cond(v, "HotVCPUChange").as_deref() == Some("True")
    })
    .await;
    let done = until(&vmis(&client), "vm1", "migrated", |v| {
        v["status"]["migrationState"]["completed"] == true
    })
    .await;
    assert_eq!(done["status"]["currentCPUTopology"]["sockets"], 2);
    assert_eq!(cond(&done, "HotVCPUChange"), None);
    let m = value(
        &vmims(&client)
            .list(&Default::default())
            .await
            .unwrap()
            .items[0],
    );
    assert!(m["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("kubevirt-workload-update-"));
    assert_eq!(m["spec"]["priority"], "user-triggered");
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, "nproc").await.unwrap().0,
        "4\n"
    );
    let vm = value(
        &api(&client, "VirtualMachine", "virtualmachines")
            .get("vm1")
            .await
            .unwrap(),
    );
    assert_eq!(cond(&vm, "RestartRequired"), None);
    // Cores are not live-updatable.
    let patch = json!({"spec": {"template": {"spec": {"domain": {"cpu": {"cores": 4}}}}}});
    api(&client, "VirtualMachine", "virtualmachines")
        .patch("vm1", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let vm = until(
        &api(&client, "VirtualMachine", "virtualmachines"),
        "vm1",
        "RestartRequired",
        |v| cond(v, "RestartRequired").is_some(),
    )
    .await;
    let c = vm["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "RestartRequired")
        .unwrap();
    assert_eq!(
        c["message"],
        "a non-live-updatable field was changed in the template spec"
    );
}

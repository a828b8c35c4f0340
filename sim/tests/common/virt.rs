//! Helpers of the tests that drive the simulated OpenShift Virtualization world through
//! kube::Api as a scenario would: VMs and their VMIs, guest SSH over the port-forward,
//! migrations, the KubeVirt CR, and waits that follow a watch within a budget.

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

use super::{resource, start_with};

pub const PUBLIC_KEY: &str = include_str!("../../../fixtures/ssh/test_ed25519.pub");
pub const KEY_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/ssh/test_ed25519");
pub const OTHER_KEY_FILE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/ssh/other_ed25519");
/// Real seconds any flow may take at the default time scale (60×).
pub const BOOT_ID: &str = "cat /proc/sys/kernel/random/boot_id";
pub const BUDGET: Duration = Duration::from_secs(30);

/// A cluster of tidy nodes only (three control planes, three identical workers): the tests
/// count nodes and aim policies at every worker.
pub async fn cluster() -> (SimHandle, kube::Client) {
    cluster_with_faults("").await
}

/// The default cluster, with its infra node, NotReady worker and worker without spare NICs.
pub async fn untidy_cluster() -> (SimHandle, kube::Client) {
    start_with(SimConfig::cluster(Default::default()).unwrap()).await
}

/// A cluster started with the faults of the catalogue named in `faults`.
pub async fn cluster_with_faults(faults: &str) -> (SimHandle, kube::Client) {
    let config = SimConfig {
        faults: faults.to_string(),
        ..SimConfig::cluster(vstp_sim::world::nodes::ClusterSpec::tidy()).unwrap()
    };
    start_with(config).await
}

/// A cluster of tidy nodes whose operations take `durations`, run `time_scale` times faster.
pub async fn cluster_with_durations(
    durations: vstp_sim::durations::Durations,
    time_scale: f64,
) -> (SimHandle, kube::Client) {
    let spec = vstp_sim::world::nodes::ClusterSpec {
        durations,
        ..vstp_sim::world::nodes::ClusterSpec::tidy()
    };
    let config = SimConfig {
        time_scale,
        ..SimConfig::cluster(spec).unwrap()
    };
    start_with(config).await
}

/// A cluster whose RHEL golden image is `image`.
pub async fn cluster_with_image(
    image: vstp_sim::guest::image::GuestImage,
) -> (SimHandle, kube::Client) {
    let spec = vstp_sim::world::nodes::ClusterSpec {
        image,
        ..vstp_sim::world::nodes::ClusterSpec::tidy()
    };
    start_with(SimConfig::cluster(spec).unwrap()).await
}

pub fn api(client: &kube::Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let (group, version) = match kind {
        "MigrationPolicy" => ("migrations.kubevirt.io", "v1alpha1"),
        "Pod" | "Node" | "Secret" | "Event" => ("", "v1"),
        _ => ("kubevirt.io", "v1"),
    };
    let ar = resource(group, version, kind, plural);
    match kind {
        "MigrationPolicy" | "Node" => Api::all_with(client.clone(), &ar),
        _ => Api::namespaced_with(client.clone(), "default", &ar),
    }
}

pub fn vmis(c: &kube::Client) -> Api<DynamicObject> {
    api(c, "VirtualMachineInstance", "virtualmachineinstances")
}
pub fn vmims(c: &kube::Client) -> Api<DynamicObject> {
    api(
        c,
        "VirtualMachineInstanceMigration",
        "virtualmachineinstancemigrations",
    )
}
pub fn pods(c: &kube::Client) -> Api<DynamicObject> {
    api(c, "Pod", "pods")
}

pub fn value(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap()
}

pub fn cond(o: &Value, ty: &str) -> Option<String> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
        .map(|c| c["status"].as_str().unwrap_or("").to_string())
}

/// A RHEL VM with our key through cloud-init; `extra` is merged into the template spec.
pub fn rhel_vm(name: &str, extra: Value) -> DynamicObject {
    let mut spec = json!({
        "domain": {"cpu": {"sockets": 1, "cores": 2, "threads": 1}, "memory": {"guest": "1Gi"},
                   "devices": {"interfaces": [{"name": "default", "masquerade": {}}]}},
        "networks": [{"name": "default", "pod": {}}],
        "volumes": [{"name": "cloudinit", "cloudInitNoCloud": {"userData": format!("#cloud-config\nuser: cloud-user\npassword: {CONSOLE_PASSWORD}\nchpasswd:\n  expire: false\nssh_authorized_keys:\n  - {}", PUBLIC_KEY.trim())}}],
    });
    json_patch::merge(&mut spec, &extra);
    serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"runStrategy": "Always", "template": {"metadata": {"labels": {"app": name}}, "spec": spec}},
    })).unwrap()
}

/// Waits (watching) until `pred` holds for object `name`; returns it.
pub async fn until(
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

/// Waits until VMI `name` cannot be scheduled; returns its PodScheduled message.
pub async fn unschedulable_message(client: &kube::Client, name: &str) -> (Value, String) {
    let waiting = until(&vmis(client), name, "unschedulable", |v| {
        v["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
    })
    .await;
    let message = waiting["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "PodScheduled")
        .and_then(|c| c["message"].as_str())
        .unwrap_or("")
        .to_string();
    (waiting, message)
}

/// Follows `name`'s watch for `modelled_secs` of simulated time (at the default time scale),
/// panicking at the first version for which `pred` does not hold; returns the last one seen.
pub async fn holds(
    api: &Api<DynamicObject>,
    name: &str,
    modelled_secs: f64,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let window = Duration::from_secs_f64(modelled_secs / vstp_sim::DEFAULT_TIME_SCALE);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut last = Value::Null;
    let follow = async {
        let mut stream = std::pin::pin!(watcher::watcher(api.clone(), cfg));
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) = ev {
                last = value(&o);
                assert!(pred(&last), "{name} stopped being {what}: {last}");
            }
        }
    };
    let _ = tokio::time::timeout(window, follow).await;
    last
}

/// Every version of `name` a watch shows, up to the first for which `pred` holds.
pub async fn history_until(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut seen = Vec::new();
    let follow = async {
        let mut stream = std::pin::pin!(watcher::watcher(api.clone(), cfg));
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) = ev {
                seen.push(value(&o));
                if pred(seen.last().expect("just pushed")) {
                    return;
                }
            }
        }
    };
    if tokio::time::timeout(BUDGET, follow).await.is_err() {
        panic!("{name} did not become {what} within {BUDGET:?}");
    }
    seen
}

pub async fn boot(client: &kube::Client, name: &str, extra: Value) -> Value {
    api(client, "VirtualMachine", "virtualmachines")
        .create(&PostParams::default(), &rhel_vm(name, extra))
        .await
        .unwrap();
    let vmi = until(&vmis(client), name, "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await;
    logged_in(client, "default", name, "cloud-user").await;
    vmi
}

/// Waits until `user` logs in to VMI `ns/vmi` with the test key, and returns the failed
/// attempts: sshd starts a while after the guest agent connects, and keys the agent
/// propagates land later still. A login has nothing to watch, so it is retried with a
/// doubling pause within [`BUDGET`].
pub async fn logged_in(client: &kube::Client, ns: &str, vmi: &str, user: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + BUDGET;
    let mut pause = Duration::from_millis(5);
    let mut failed = Vec::new();
    loop {
        match ssh_in(client, ns, vmi, user, KEY_FILE, "true").await {
            Ok(_) => return failed,
            Err(e) if tokio::time::Instant::now() + pause > deadline => {
                panic!("{ns}/{vmi}: no login as {user} within {BUDGET:?}; last error: {e}")
            }
            Err(e) => failed.push(e),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// cloud-user's password in [`rhel_vm`]'s cloud-init, for the serial console.
pub const CONSOLE_PASSWORD: &str = "s3cret";

pub type Console = tokio_tungstenite::WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The console websocket of VMI `ns/name` as `virtctl console` opens it, or the refusal's
/// status and body.
pub async fn open_console(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Console, (u16, String)> {
    let path = format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances/{name}/console"
    );
    let req = http::Request::get(path)
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .header(
            http::header::SEC_WEBSOCKET_KEY,
            tungstenite::handshake::client::generate_key(),
        )
        .header(http::header::SEC_WEBSOCKET_PROTOCOL, "plain.kubevirt.io")
        .body(kube::client::Body::empty())
        .unwrap();
    let res = client.send(req).await.unwrap();
    if res.status() != 101 {
        let status = res.status().as_u16();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap();
        return Err((status, String::from_utf8_lossy(&body.to_bytes()).into()));
    }
    let upgraded = hyper::upgrade::on(res).await.unwrap();
    Ok(tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Client,
        None,
    )
    .await)
}

/// Types `text` on the console, then reads until what arrived ends with `until`.
pub async fn exchange(socket: &mut Console, text: &str, until: &str) -> String {
    socket
        .send(Message::binary(text.as_bytes().to_vec()))
        .await
        .unwrap();
    let mut seen = String::new();
    let read = async {
        while !seen.ends_with(until) {
            match socket.next().await {
                Some(Ok(Message::Binary(b))) => seen.push_str(&String::from_utf8_lossy(&b)),
                Some(Ok(_)) => {}
                other => panic!("the console ended: {other:?} after {seen:?}"),
            }
        }
    };
    if tokio::time::timeout(BUDGET, read).await.is_err() {
        panic!("no {until:?} within {BUDGET:?}; seen {seen:?}");
    }
    seen
}

/// Runs `command` as cloud-user on the serial console of VMI `ns/vmi` (for guests the
/// port-forward cannot reach): what the terminal showed between the echoed line and the
/// next prompt, and `$?`.
pub async fn console_in(
    client: &kube::Client,
    ns: &str,
    vmi: &str,
    command: &str,
) -> (String, i32) {
    let mut tty = open_console(client, ns, vmi).await.unwrap();
    let mut seen = exchange(&mut tty, "\r", " ").await;
    while !seen.ends_with("]$ ") {
        if seen.ends_with("login: ") {
            exchange(&mut tty, "cloud-user\r", "Password: ").await;
            seen = exchange(&mut tty, &format!("{CONSOLE_PASSWORD}\r"), "]$ ").await;
        } else {
            seen += &exchange(&mut tty, "", " ").await;
        }
    }
    let shown = exchange(&mut tty, &format!("{command}\r"), "]$ ").await;
    let body = shown.split_once("\x1b[?2004l\r").map_or("", |(_, b)| b);
    let out = body.rsplit_once("\x1b[?2004h").map_or(body, |(o, _)| o);
    let status = exchange(&mut tty, "echo rc=$?\r", "]$ ").await;
    let code = status
        .split("rc=")
        .nth(2)
        .and_then(|s| s.split('\r').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status:?}"));
    (out.replace("\r\n", "\n"), code)
}

/// Runs `command` in the guest over SSH (libssh2) through the VMI port-forward websocket.
pub async fn ssh(
    client: &kube::Client,
    vmi: &str,
    key_file: &str,
    command: &str,
) -> Result<(String, i32), String> {
    ssh_as(client, vmi, "cloud-user", key_file, command).await
}

pub async fn ssh_as(
    client: &kube::Client,
    vmi: &str,
    user: &str,
    key_file: &str,
    command: &str,
) -> Result<(String, i32), String> {
    ssh_in(client, "default", vmi, user, key_file, command).await
}

/// Runs `command` as `user` in the guest of VMI `ns/vmi`.
pub async fn ssh_in(
    client: &kube::Client,
    ns: &str,
    vmi: &str,
    user: &str,
    key_file: &str,
    command: &str,
) -> Result<(String, i32), String> {
    let credential = Credential::Key(key_file.to_string());
    ssh_with(client, ns, vmi, user, credential, command).await
}

/// How an SSH client proves who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A private key file.
    Key(String),
    Password(String),
}

/// Runs `command` as `user` logged in with `credential` in the guest of VMI `ns/vmi`.
pub async fn ssh_with(
    client: &kube::Client,
    ns: &str,
    vmi: &str,
    user: &str,
    credential: Credential,
    command: &str,
) -> Result<(String, i32), String> {
    let path = format!("/apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances/{vmi}/portforward/22/tcp");
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
    let (user, command) = (user.to_string(), command.to_string());
    tokio::task::spawn_blocking(move || {
        let mut s = ssh2::Session::new().unwrap();
        s.set_tcp_stream(ours);
        s.set_timeout(10_000);
        s.handshake().map_err(|e| e.to_string())?;
        match &credential {
            Credential::Key(file) => {
                s.userauth_pubkey_file(&user, None, std::path::Path::new(file), None)
            }
            Credential::Password(password) => s.userauth_password(&user, password),
        }
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

pub async fn bridge<
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

/// Every distinct (phase) of a VMIM as a watch sees it, until it is final.
pub async fn phases_of(client: &kube::Client, name: &str) -> (Vec<String>, Value) {
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

/// Creates a migration of `vmi` and follows it to its end: (phases seen, final VMIM).
pub async fn migrate(client: &kube::Client, vmi: &str) -> (Vec<String>, Value) {
    let m = value(
        &vmims(client)
            .create(&PostParams::default(), &migration(vmi))
            .await
            .unwrap(),
    );
    phases_of(client, m["metadata"]["name"].as_str().unwrap()).await
}

/// Creates a migration of `vmi` and waits until it is Running; returns it then.
pub async fn running_migration(client: &kube::Client, vmi: &str) -> Value {
    let m = value(
        &vmims(client)
            .create(&PostParams::default(), &migration(vmi))
            .await
            .unwrap(),
    );
    let name = m["metadata"]["name"].as_str().unwrap();
    until(&vmims(client), name, "Running", |m| {
        m["status"]["phase"] == "Running"
    })
    .await
}

pub fn migration(vmi: &str) -> DynamicObject {
    serde_json::from_value(
        json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
        "metadata": {"generateName": "mig-", "namespace": "default"}, "spec": {"vmiName": vmi}}),
    )
    .unwrap()
}

/// Merges `configuration` into the KubeVirt CR's `spec.configuration`.
pub async fn configure_kubevirt(client: &kube::Client, configuration: Value) {
    let ar = resource("kubevirt.io", "v1", "KubeVirt", "kubevirts");
    let kubevirt = Api::<DynamicObject>::namespaced_with(client.clone(), "openshift-cnv", &ar);
    let patch = json!({"spec": {"configuration": configuration}});
    kubevirt
        .patch(
            "kubevirt-kubevirt-hyperconverged",
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
        .unwrap();
}

pub fn nncps(c: &kube::Client) -> Api<DynamicObject> {
    Api::all_with(
        c.clone(),
        &resource(
            "nmstate.io",
            "v1",
            "NodeNetworkConfigurationPolicy",
            "nodenetworkconfigurationpolicies",
        ),
    )
}

/// Adds a data disk on a new ReadWriteOnce PVC `claim` to the template of `vm`: the VM is not
/// live-migratable (DisksNotLiveMigratable).
pub async fn add_rwo_disk(client: &kube::Client, vm: &mut Value, claim: &str) {
    let pvc: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim, "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}))
    .unwrap();
    let pvcs = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    );
    pvcs.create(&PostParams::default(), &pvc).await.unwrap();
    let spec = &mut vm["spec"]["template"]["spec"];
    let disks = super::ensure_array(&mut spec["domain"]["devices"]["disks"]);
    disks.push(json!({"name": claim, "disk": {"bus": "virtio"}}));
    let volumes = super::ensure_array(&mut spec["volumes"]);
    volumes.push(json!({"name": claim, "persistentVolumeClaim": {"claimName": claim}}));
}

/// The total memory `free -b` reports.
pub fn free_total(free_b: &str) -> u64 {
    let mem = free_b.lines().find(|l| l.starts_with("Mem:")).unwrap();
    mem.split_whitespace().nth(1).unwrap().parse().unwrap()
}

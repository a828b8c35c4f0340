//! The tamperer: a task with its own API client that acts on a running scenario's VM from
//! outside, only through the API, at one moment of the scenario. Moments are found with
//! watches on the scenario's namespace (found by the run's label), never by polling.

use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::{json, Value};

#[path = "effects.rs"]
mod effects;

/// What is done to the VM under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tamper {
    /// `PUT …/virtualmachines/NAME/restart` (subresources.kubevirt.io).
    Restart,
    /// Deletes the virt-launcher pod the VMI runs in.
    DeleteLauncher,
    /// JSON patch of the VMI's `status.interfaces[net1].mac`.
    PatchMac,
    /// Merge patch of the VMI's `status.migrationState.mode`.
    PatchMode,
    /// `PUT …/virtualmachineinstances/NAME/pause`.
    Pause,
    /// JSON patch of the VM spec's net1 back to the NAD it booted on.
    NadBack,
}

pub const TAMPERS: &[(Tamper, &str)] = &[
    (Tamper::Restart, "restart"),
    (Tamper::DeleteLauncher, "delete-launcher"),
    (Tamper::PatchMac, "patch-mac"),
    (Tamper::PatchMode, "patch-mode"),
    (Tamper::Pause, "pause"),
    (Tamper::NadBack, "nad-back"),
];

/// When it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Moment {
    /// The VMI runs with its agent connected and no migration of it exists yet.
    Before,
    /// A migration of the VMI is Running.
    During,
    /// That migration Succeeded.
    After,
    /// The VMI records that migration as completed (what the harness waits for before its
    /// final checks), then a seeded delay (modelled seconds ÷ the simulator's time scale).
    BeforeFinal,
}

pub const MOMENTS: &[(Moment, &str)] = &[
    (Moment::Before, "before"),
    (Moment::During, "during"),
    (Moment::After, "after"),
    (Moment::BeforeFinal, "before-final"),
];

pub fn tamper_name(t: Tamper) -> &'static str {
    TAMPERS
        .iter()
        .find(|(x, _)| *x == t)
        .map_or("?", |(_, n)| n)
}

pub fn moment_name(m: Moment) -> &'static str {
    MOMENTS
        .iter()
        .find(|(x, _)| *x == m)
        .map_or("?", |(_, n)| n)
}

/// One tamper planned against one run.
#[derive(Clone)]
pub struct Plan {
    pub run_id: String,
    /// The VM under test's name in the scenario's namespace.
    pub vm: String,
    pub tamper: Tamper,
    pub moment: Moment,
    /// For `BeforeFinal`: the delay after the VMI recorded the migration completed.
    pub delay: Duration,
    /// The NAD net1 booted on (filled in once the VMI runs), for `NadBack`.
    pub first_nad: String,
}

pub fn vmis() -> ApiResource {
    kubevirt("VirtualMachineInstance", "virtualmachineinstances")
}

pub fn vmims() -> ApiResource {
    kubevirt(
        "VirtualMachineInstanceMigration",
        "virtualmachineinstancemigrations",
    )
}

fn vms() -> ApiResource {
    kubevirt("VirtualMachine", "virtualmachines")
}

fn kubevirt(kind: &str, plural: &str) -> ApiResource {
    let gvk = kube::api::GroupVersionKind::gvk("kubevirt.io", "v1", kind);
    ApiResource::from_gvk_with_plural(&gvk, plural)
}

/// What the tamperer did and saw, filled in as it goes (the run may end it at any point).
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// What it did, once the API took it.
    pub acted: Option<String>,
    /// What the API answered instead, or why the moment never came.
    pub refused: Option<String>,
    /// What the cluster did with it, once seen.
    pub effect: Option<String>,
    /// When it acted, when it saw the effect, and when it saw the scenario's namespace start
    /// terminating (the teardown, which begins as the scenario's body ends).
    pub acted_at: Option<Instant>,
    pub effect_at: Option<Instant>,
    pub teardown_at: Option<Instant>,
}

pub type Shared = std::sync::Arc<std::sync::Mutex<Report>>;

/// Waits for the moment, tampers, and follows the effect, writing each to `report`.
pub async fn tamper(client: kube::Client, plan: Plan, report: Shared) {
    let note = |f: &dyn Fn(&mut Report)| f(&mut report.lock().expect("the report"));
    match run(client, &plan, &report).await {
        Ok(()) => {}
        Err(e) => note(&|r| r.refused = Some(format!("{e:#}"))),
    }
}

async fn run(client: kube::Client, plan: &Plan, report: &Shared) -> anyhow::Result<()> {
    let ns = namespace_of(&client, &plan.run_id).await?;
    let (acted, ()) = futures::join!(
        act_and_follow(&client, &ns, plan, report),
        teardown_seen(&client, &plan.run_id, report)
    );
    acted
}

/// Notes when the scenario's namespace first shows a deletion timestamp: the runner deletes
/// it first thing in the teardown, right after the body returned.
async fn teardown_seen(client: &kube::Client, run_id: &str, report: &Shared) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let config = watcher::Config::default().labels(&format!("vstp.io/run-id={run_id}"));
    // A namespace deleted at once (no finalizers) shows only as gone.
    let stream = watcher(api, config).default_backoff().map(|e| {
        e.map(|event| match event {
            watcher::Event::Delete(_) => true,
            watcher::Event::Apply(n) | watcher::Event::InitApply(n) => {
                n.metadata.deletion_timestamp.is_some()
            }
            _ => false,
        })
    });
    if first_of(stream, |terminating| *terminating).await.is_ok() {
        report.lock().expect("the report").teardown_at = Some(Instant::now());
    }
}

async fn act_and_follow(
    client: &kube::Client,
    ns: &str,
    plan: &Plan,
    report: &Shared,
) -> anyhow::Result<()> {
    let (client, ns) = (client.clone(), ns.to_string());
    let vmi_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &vmis());
    let booted = first_where(&vmi_api, &plan.vm, |vmi| {
        obj_str(vmi, "/status/phase") == "Running" && condition_true(vmi, "AgentConnected")
    })
    .await?;
    // The NAD net1 booted on, for `NadBack`.
    let first_nad = nad_of(&booted, "net1");
    let plan = &Plan {
        first_nad: first_nad.clone().unwrap_or_default(),
        ..plan.clone()
    };
    moment(&client, &ns, plan).await?;
    let acted_on = vmi_api.get(&plan.vm).await?;
    let migrations = migration_names(&client, &ns).await?;
    let done = act(&client, &ns, plan, first_nad.as_deref()).await?;
    {
        let mut r = report.lock().expect("the report");
        r.acted = Some(done);
        r.acted_at = Some(Instant::now());
    }
    let effect = effects::seen(&client, &ns, plan, &acted_on, &migrations).await?;
    let mut r = report.lock().expect("the report");
    r.effect = Some(effect);
    r.effect_at = Some(Instant::now());
    Ok(())
}

async fn migration_names(client: &kube::Client, ns: &str) -> anyhow::Result<Vec<String>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &vmims());
    let listed = api.list(&ListParams::default()).await?;
    Ok(listed
        .items
        .into_iter()
        .filter_map(|m| m.metadata.name)
        .collect())
}

/// Returns once `plan.moment` has come (the VMI is already running with its agent).
async fn moment(client: &kube::Client, ns: &str, plan: &Plan) -> anyhow::Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &vmims());
    let of_vm = |m: &DynamicObject| obj_str(m, "/spec/vmiName") == plan.vm;
    match plan.moment {
        Moment::Before => {
            let existing = api.list(&ListParams::default()).await?;
            let started: Vec<_> = existing.items.iter().filter(|m| of_vm(m)).collect();
            anyhow::ensure!(
                started.is_empty(),
                "the moment passed: a migration of {} already exists",
                plan.vm
            );
            Ok(())
        }
        Moment::During => {
            let running = |m: &DynamicObject| of_vm(m) && obj_str(m, "/status/phase") == "Running";
            first_of(watch(&api), running).await.map(|_| ())
        }
        Moment::After | Moment::BeforeFinal => {
            let done = |m: &DynamicObject| of_vm(m) && obj_str(m, "/status/phase") == "Succeeded";
            let succeeded = first_of(watch(&api), done).await?;
            if plan.moment == Moment::BeforeFinal {
                // What the harness waits for before its final checks: the VMI records that
                // migration as completed (src/vm/migration.rs `ended`).
                let uid = succeeded.metadata.uid.clone().unwrap_or_default();
                let vmi_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &vmis());
                first_where(&vmi_api, &plan.vm, |v| {
                    obj_str(v, "/status/migrationState/migrationUid") == uid
                        && v.data["status"]["migrationState"]["completed"] == true
                })
                .await?;
                // Then a chosen instant inside the final checks, not a wait for a state: the
                // seeded delay on the simulator's clock.
                tokio::time::sleep(plan.delay).await;
            }
            Ok(())
        }
    }
}

async fn act(
    client: &kube::Client,
    ns: &str,
    plan: &Plan,
    first_nad: Option<&str>,
) -> anyhow::Result<String> {
    let vm = &plan.vm;
    let vmi_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &vmis());
    match plan.tamper {
        Tamper::Restart => subresource(client, ns, "virtualmachines", vm, "restart").await,
        Tamper::Pause => subresource(client, ns, "virtualmachineinstances", vm, "pause").await,
        Tamper::DeleteLauncher => delete_launcher(client, ns, &vmi_api, vm).await,
        Tamper::PatchMac => patch_mac(&vmi_api, vm).await,
        Tamper::PatchMode => {
            let mode = json!({"status": {"migrationState": {"mode": effects::PATCHED_MODE}}});
            let answered = vmi_api
                .patch(vm, &PatchParams::default(), &Patch::Merge(&mode))
                .await?;
            let kept = obj_str(&answered, "/status/migrationState/mode") == effects::PATCHED_MODE;
            Ok(format!(
                "merge-patched VMI status.migrationState.mode to PostCopy ({})",
                took(kept)
            ))
        }
        Tamper::NadBack => {
            let nad = first_nad.ok_or_else(|| anyhow::anyhow!("the VMI booted without net1"))?;
            nad_back(client, ns, vm, nad).await
        }
    }
}

async fn subresource(
    client: &kube::Client,
    ns: &str,
    plural: &str,
    name: &str,
    action: &str,
) -> anyhow::Result<String> {
    let uri = format!("/apis/subresources.kubevirt.io/v1/namespaces/{ns}/{plural}/{name}/{action}");
    let request = http::Request::put(&uri)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(b"{}".to_vec())?;
    client.request_text(request).await?;
    Ok(format!("PUT {plural}/{name}/{action}"))
}

/// Deletes the launcher pod on the VMI's node (the source's, during a migration).
async fn delete_launcher(
    client: &kube::Client,
    ns: &str,
    vmi_api: &Api<DynamicObject>,
    vm: &str,
) -> anyhow::Result<String> {
    let vmi = vmi_api.get(vm).await?;
    let node = obj_str(&vmi, "/status/nodeName").to_string();
    let uid = vmi.metadata.uid.clone().unwrap_or_default();
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), ns);
    let selector = format!("kubevirt.io=virt-launcher,kubevirt.io/created-by={uid}");
    let pod = listed_pod(&pods, &selector, &node)
        .await
        .map_err(|e| anyhow::anyhow!("{vm}: {e}"))?;
    pods.delete(&pod, &Default::default()).await?;
    let did = format!("deleted launcher pod {pod} on {node}");
    // A migration that completed meanwhile left that pod as its finished source: the guest
    // runs in the target's pod, which is then the one to delete.
    let now = vmi_api.get(vm).await?;
    let moved_to = obj_str(&now, "/status/nodeName");
    if moved_to == node || moved_to.is_empty() {
        return Ok(did);
    }
    let again = listed_pod(&pods, &selector, moved_to).await?;
    pods.delete(&again, &Default::default()).await?;
    Ok(format!(
        "{did}, then {again} on {moved_to} (the VMI had migrated there)"
    ))
}

/// The launcher pod of `selector` on `node`.
async fn listed_pod(
    pods: &Api<k8s_openapi::api::core::v1::Pod>,
    selector: &str,
    node: &str,
) -> anyhow::Result<String> {
    let listed = pods.list(&ListParams::default().labels(selector)).await?;
    listed
        .items
        .iter()
        .find(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .and_then(|p| p.metadata.name.clone())
        .ok_or_else(|| anyhow::anyhow!("no launcher pod on {node}"))
}

/// Whether the API's answer to a status patch carries it. Upstream's VMI CRD has no status
/// subresource (kubevirt pkg/virt-operator/resource/generate/components/crds.go
/// NewVirtualMachineInstanceCrd), so a main-resource patch of the status is stored.
fn took(kept: bool) -> &'static str {
    match kept {
        true => "the answer carries it",
        false => "the answer does not carry it: the API kept the old status",
    }
}

/// Replaces net1's MAC in the VMI status with another one.
async fn patch_mac(vmi_api: &Api<DynamicObject>, vm: &str) -> anyhow::Result<String> {
    let vmi = vmi_api.get(vm).await?;
    let interfaces = vmi.data["status"]["interfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let i = interfaces
        .iter()
        .position(|i| i["name"] == "net1")
        .ok_or_else(|| anyhow::anyhow!("the VMI status lists no net1: {interfaces:?}"))?;
    let old = interfaces[i]["mac"].as_str().unwrap_or("").to_string();
    let new = effects::PATCHED_MAC;
    let ops = json!([
        {"op": "test", "path": format!("/status/interfaces/{i}/name"), "value": "net1"},
        {"op": "replace", "path": format!("/status/interfaces/{i}/mac"), "value": new},
    ]);
    // The answer, not a later read: virt-handler's sync (triggered by this very update) may
    // already have written the domain's MAC back by then.
    let answered = json_patch(vmi_api, vm, &ops).await?;
    let kept = answered["status"]["interfaces"][i]["mac"] == new;
    Ok(format!(
        "JSON-patched VMI status net1 MAC {old} → {new} ({})",
        took(kept)
    ))
}

/// A JSON patch (RFC 6902) of object `name`, sent as kubectl sends one.
/// Returns the object the API answered with.
async fn json_patch(api: &Api<DynamicObject>, name: &str, ops: &Value) -> anyhow::Result<Value> {
    let uri = format!("{}/{name}", api.resource_url());
    let request = http::Request::patch(&uri)
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .body(serde_json::to_vec(ops)?)?;
    Ok(api.clone().into_client().request::<Value>(request).await?)
}

/// Points the VM spec's net1 back at `nad`.
async fn nad_back(client: &kube::Client, ns: &str, vm: &str, nad: &str) -> anyhow::Result<String> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &vms());
    let current = api.get(vm).await?;
    let networks = current.data["spec"]["template"]["spec"]["networks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let i = networks
        .iter()
        .position(|n| n["name"] == "net1")
        .ok_or_else(|| anyhow::anyhow!("the VM spec has no net1"))?;
    let was = nad_in(&networks[i]).unwrap_or_default();
    let path = format!("/spec/template/spec/networks/{i}");
    let ops = json!([
        {"op": "test", "path": format!("{path}/name"), "value": "net1"},
        {"op": "replace", "path": format!("{path}/multus/networkName"), "value": nad},
    ]);
    json_patch(&api, vm, &ops).await?;
    Ok(format!("JSON-patched VM spec net1 {was} → {nad}"))
}

/// The scenario's namespace: the first one labelled with the run's ID.
async fn namespace_of(client: &kube::Client, run_id: &str) -> anyhow::Result<String> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let config = watcher::Config::default().labels(&format!("vstp.io/run-id={run_id}"));
    let stream = watcher(api, config).default_backoff().applied_objects();
    let ns = first_of(stream, |_| true).await?;
    ns.metadata
        .name
        .ok_or_else(|| anyhow::anyhow!("a namespace without a name"))
}

pub fn watch(
    api: &Api<DynamicObject>,
) -> impl Stream<Item = Result<DynamicObject, watcher::Error>> {
    watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects()
}

/// The first state of `name` that satisfies `pred`.
pub async fn first_where(
    api: &Api<DynamicObject>,
    name: &str,
    pred: impl Fn(&DynamicObject) -> bool,
) -> anyhow::Result<DynamicObject> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let stream = watcher(api.clone(), config)
        .default_backoff()
        .applied_objects();
    first_of(stream, pred).await
}

/// The first object the stream brings that satisfies `pred`; watch errors are retried by the
/// watcher's backoff and skipped here.
pub async fn first_of<K>(
    stream: impl Stream<Item = Result<K, watcher::Error>>,
    pred: impl Fn(&K) -> bool,
) -> anyhow::Result<K> {
    let mut stream = std::pin::pin!(stream);
    while let Some(next) = stream.next().await {
        if let Ok(object) = next {
            if pred(&object) {
                return Ok(object);
            }
        }
    }
    anyhow::bail!("the watch ended")
}

pub fn obj_str<'a>(o: &'a DynamicObject, pointer: &str) -> &'a str {
    o.data
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn condition_true(o: &DynamicObject, kind: &str) -> bool {
    o.data["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    })
}

fn nad_of(vmi: &DynamicObject, net: &str) -> Option<String> {
    vmi.data["spec"]["networks"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == net)
        .and_then(nad_in)
}

fn nad_in(network: &Value) -> Option<String> {
    network["multus"]["networkName"].as_str().map(String::from)
}

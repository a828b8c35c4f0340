//! The modelled life of a VMI: launcher pod, scheduling, domain start, guest boot
//! (about 20 modelled seconds to a guest agent), and shutdown.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{launcher, migratable, network, Ctx};
use crate::guest::{self, cloudinit, BootSpec, Guest, Os};
use crate::kinds;
use crate::obj;

// Modelled seconds of the pod start, domain start, OS boot to agent, agent to sshd (the agent
// starts as soon as its virtio-serial port appears; on a RHEL cloud image sshd.service is
// ordered after cloud-init.service) and shutdown: the cluster's durations profile
// (durations.rs) says how long each takes.

/// Appends a phase and its transition time, as `status.phaseTransitionTimestamps` keeps them.
pub fn set_phase(vmi: &mut Value, phase: &str, now: &str) {
    if vmi["status"]["phase"] == phase {
        return;
    }
    obj::ensure(vmi, "/status")["phase"] = json!(phase);
    let list = obj::ensure(vmi, "/status/phaseTransitionTimestamps");
    if !list.is_array() {
        *list = json!([]);
    }
    list.as_array_mut()
        .expect("an array")
        .push(json!({"phase": phase, "phaseTransitionTimestamp": now}));
}

/// Boots `vmi` (by UID) step by step; stops quietly when the VMI goes away.
pub async fn boot(ctx: Arc<Ctx>, ns: String, name: String, uid: String) {
    let _ = boot_steps(&ctx, &ns, &name, &uid).await;
    ctx.state().booting.remove(&uid);
}

async fn boot_steps(ctx: &Arc<Ctx>, ns: &str, name: &str, uid: &str) -> Option<()> {
    let current = || {
        ctx.get(kinds::VMIS, ns, name).filter(|v| {
            obj::uid(v) == uid
                && !obj::deleting(v)
                && !matches!(obj::str_at(v, "/status/phase"), "Failed" | "Succeeded")
        })
    };
    let pod = create_launcher_pod(ctx, ns, name, uid, &current).await?;
    let pod_name = obj::name(&pod).to_string();
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        set_phase(v, "Scheduling", &ctx.now())
    })?;
    let node = place(ctx, ns, &pod_name, Some((name, uid)), None).await?;
    ctx.sleep(ctx.spec.durations.launcher_pod_start).await;
    let segments = network::sandbox(ctx, &pod_name, &node, current).await?;
    let cluster_ip = launcher::next_pod_ip(ctx, &node);
    let vmi = current()?;
    let pod_net = network::pod_network(ctx, &vmi, &pod_name, &cluster_ip);
    let status = launcher::network_status(&vmi, &cluster_ip, &pod_net);
    let pod = start_pod(ctx, ns, &pod_name, &cluster_ip, &status)?;
    let pod_ip = pod_net.ip.clone();
    let now = ctx.now();
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        set_phase(v, "Scheduled", &now);
        obj::remove_condition(v, "PodScheduled");
        v["status"]["nodeName"] = json!(node);
        v["status"]["activePods"] = json!({obj::uid(&pod): node});
        obj::set_label(v, "kubevirt.io/nodeName", &node);
    })?;
    // The access-credentials loop starts with the domain's definition, before it runs.
    let vmi = current()?;
    let distro = guest::distro::of_vmi(&vmi).distro;
    let config = cloudinit::read(&ctx.store, &vmi, distro.default_user);
    if !config.agent_users.is_empty() {
        let who = (ns.to_string(), name.to_string(), uid.to_string());
        let keys = config.agent_users.clone();
        tokio::spawn(super::credentials::propagate(ctx.clone(), who, keys));
    }
    ctx.sleep(ctx.spec.durations.domain_start).await;
    let vmi = current()?;
    // The boot disk's image decides the OS (guest/distro.rs `of_vmi`).
    let windows = distro.os == Os::Windows;
    let macs = launcher::macs(&vmi, &[]);
    ctx.state()
        .hotplug_ports
        .insert(uid.to_string(), super::pciports::Ports::at_boot(&vmi));
    let nics = launcher::guest_nics(&vmi, &macs, &pod_net, &config, windows, &segments);
    let spec = &vmi["spec"];
    let guest = Guest::boot(
        BootSpec {
            distro,
            hostname: spec["hostname"].as_str().unwrap_or(name).to_string(),
            vcpus: launcher::vcpus(spec) as u32,
            memory_bytes: launcher::guest_memory(spec),
            nics: nics.clone(),
            users: config.users,
            image: ctx.spec.image.clone(),
        },
        ctx.store.clock().scale(),
    );
    let guest = ctx.guests.insert(uid, guest);
    for nic in guest::lock(&guest).nics.iter_mut() {
        nic.node = node.clone();
    }
    let machine = match super::real_guest::start_domain(
        ctx,
        &vmi,
        &macs,
        !windows,
        pod_net.bridged.is_none(),
    )
    .await
    {
        Ok(machine) => machine,
        Err(why) => return domain_failed(ctx, ns, name, uid, &why),
    };
    guest::lock(&guest).machine = machine.clone();
    let now = ctx.now();
    let verdict = migratable::verdict(ctx, &vmi);
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        set_phase(v, "Running", &now);
        obj::set_condition(v, "Ready", true, "", "", &now);
        migratable::set_condition(v, &verdict, &now);
        let spec = v["spec"].clone();
        let cpu = &spec["domain"]["cpu"];
        v["status"]["currentCPUTopology"] = json!({"sockets": cpu["sockets"].as_u64().unwrap_or(1), "cores": cpu["cores"].as_u64().unwrap_or(1), "threads": cpu["threads"].as_u64().unwrap_or(1)});
        let memory = crate::quantity::bytes(launcher::guest_memory(&spec));
        v["status"]["memory"] = json!({"guestAtBoot": memory, "guestCurrent": memory, "guestRequested": memory, "memoryOverhead": "256Mi"});
        v["status"]["interfaces"] = launcher::status_interfaces(v, &nics, false, &pod_ip);
        v["status"]["qosClass"] = json!("Guaranteed");
        v["status"]["launcherContainerImageVersion"] = json!(launcher::LAUNCHER_IMAGE);
        v["status"]["migrationMethod"] = json!("LiveMigration");
        v["status"]["migrationTransport"] = json!("Unix");
        v["status"]["guestOSInfo"] = json!({});
    })?;
    match &machine {
        Some(machine) => {
            if let Err(why) = super::real_guest::await_agent(machine, &guest).await {
                current()?;
                return domain_failed(ctx, ns, name, uid, &why);
            }
        }
        None => ctx.sleep(ctx.spec.durations.boot_to_agent(windows)).await,
    }
    current()?;
    guest::lock(&guest).up = true;
    if !distro.guest_agent {
        // No qemu-guest-agent in the image: the agent channel never connects, so no
        // AgentConnected and no guestOSInfo (kubevirt v1.9.0 pkg/virt-handler/vm.go
        // guestAgentConnected, updateGuestAgentConditions, updateGuestInfoFromDomain).
        return Some(());
    }
    let now = ctx.now();
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        obj::set_condition(v, "AgentConnected", true, "", "", &now);
        v["status"]["guestOSInfo"] = distro.guest_os_info();
        v["status"]["interfaces"] = launcher::status_interfaces(v, &nics, true, &pod_ip);
    })?;
    if machine.is_none() {
        // A real guest's sshd listens when it does: the port-forward dials it.
        ctx.sleep(ctx.spec.durations.sshd_after_agent(windows))
            .await;
    }
    current()?;
    guest::lock(&guest).sshd_listening = true;
    Some(())
}

/// The domain did not start or its guest never came up: the VMI fails, its message saying why.
fn domain_failed(ctx: &Ctx, ns: &str, name: &str, uid: &str, why: &str) -> Option<()> {
    let now = ctx.now();
    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
        set_phase(v, "Failed", &now);
        obj::set_condition(v, "Ready", false, "GuestNotRunning", why, &now);
    });
    ctx.guests.remove(uid);
    None
}

/// The VMI controller's first retry after a failed sync, and the longest wait between
/// retries (client-go's `DefaultTypedControllerRateLimiter`, modelled seconds).
const FIRST_RETRY: f64 = 0.005;
const LONGEST_RETRY: f64 = 1000.0;

/// Creates the launcher pod through the pod admission webhooks, as kubevirt/kubevirt v1.9.0
/// pkg/virt-controller/watch/vmi/lifecycle.go `sync` does: a refused creation is a Warning
/// event `FailedCreate` "Error creating pod: …" and (pkg/controller/conditions.go
/// `CheckFailure`, kept as it is while the reason stays) the condition Synchronized=False,
/// reason FailedCreate, "failed to create virtual machine pod: …"; the VMI stays Pending and the
/// controller's rate-limited queue (vmi.go, exponential from 5 ms to 1000 s) tries again.
async fn create_launcher_pod(
    ctx: &Arc<Ctx>,
    ns: &str,
    name: &str,
    uid: &str,
    current: &impl Fn() -> Option<Arc<Value>>,
) -> Option<Arc<Value>> {
    let mut retry = FIRST_RETRY;
    loop {
        let vmi = current()?;
        let mut pod = launcher::pod(&vmi, None);
        super::serial_log::add_sidecar(ctx, &vmi, &mut pod);
        // A render failure is a sync error only: no event (lifecycle.go `sync`).
        if let Err(why) = super::netresources::request(ctx, &vmi, &mut pod) {
            sync_failed(ctx, &vmi, &why);
            ctx.sleep(retry).await;
            retry = (retry * 2.0).min(LONGEST_RETRY);
            continue;
        }
        let refused = match super::udn::ipam_claims_webhook(ctx, &vmi, &mut pod) {
            Ok(()) => match ctx.create(kinds::PODS, pod) {
                Ok(pod) => {
                    if obj::condition(&vmi, "Synchronized").is_some() {
                        ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
                            obj::remove_condition(v, "Synchronized")
                        })?;
                    }
                    return Some(pod);
                }
                Err(e) => e.to_string(),
            },
            Err(refused) => refused,
        };
        failed_create(ctx, &vmi, &refused);
        ctx.sleep(retry).await;
        retry = (retry * 2.0).min(LONGEST_RETRY);
    }
}

fn failed_create(ctx: &Ctx, vmi: &Value, why: &str) {
    let message = format!("Error creating pod: {why}");
    super::events::warning(
        ctx,
        vmi,
        "FailedCreate",
        &message,
        super::events::VIRT_CONTROLLER,
    );
    sync_failed(
        ctx,
        vmi,
        &format!("failed to create virtual machine pod: {why}"),
    );
}

/// The VMI's Synchronized=False, reason FailedCreate, for a failed sync (kept as it is while
/// the reason stays, as `CheckFailure` does).
fn sync_failed(ctx: &Ctx, vmi: &Value, message: &str) {
    let kept = obj::condition(vmi, "Synchronized")
        .is_some_and(|c| c["status"] == "False" && c["reason"] == "FailedCreate");
    if !kept {
        let now = ctx.now();
        ctx.write_same(kinds::VMIS, vmi, |v| {
            obj::remove_condition(v, "Synchronized");
            obj::set_condition(v, "Synchronized", false, "FailedCreate", message, &now);
        });
    }
}

/// Binds a pod to a node, waiting (for node changes, not on a timer) while none fits.
/// `owner` is the VMI (name, uid) whose PodScheduled condition reports the wait.
pub async fn place(
    ctx: &Arc<Ctx>,
    ns: &str,
    pod: &str,
    owner: Option<(&str, &str)>,
    avoid: Option<&str>,
) -> Option<String> {
    loop {
        let notified = ctx.nodes_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let current = ctx.get(kinds::PODS, ns, pod)?;
        if obj::deleting(&current) {
            return None;
        }
        match crate::world::nodes::schedule(&ctx.store, &current, avoid) {
            Ok(node) => {
                let now = ctx.now();
                ctx.write(kinds::PODS, ns, pod, |p| {
                    p["spec"]["nodeName"] = json!(node);
                    obj::set_condition(p, "PodScheduled", true, "", "", &now);
                })?;
                return Some(node);
            }
            Err(message) => {
                let now = ctx.now();
                ctx.write(kinds::PODS, ns, pod, |p| {
                    obj::set_condition(p, "PodScheduled", false, "Unschedulable", &message, &now)
                })?;
                if let Some((name, uid)) = owner {
                    ctx.write_uid(kinds::VMIS, ns, name, uid, |v| {
                        obj::set_condition(
                            v,
                            "PodScheduled",
                            false,
                            "Unschedulable",
                            &message,
                            &now,
                        )
                    })?;
                }
                notified.await;
            }
        }
    }
}

/// The pod's containers run: phase Running, Ready, its IP and network status.
pub fn start_pod(
    ctx: &Ctx,
    ns: &str,
    pod: &str,
    pod_ip: &str,
    network_status: &str,
) -> Option<Arc<Value>> {
    let now = ctx.now();
    let node = ctx
        .get(kinds::PODS, ns, pod)
        .map(|p| obj::str_at(&p, "/spec/nodeName").to_string())?;
    let host_ip = crate::world::nodes::address(&ctx.store, &node);
    ctx.write(kinds::PODS, ns, pod, |p| {
        p["status"]["phase"] = json!("Running");
        p["status"]["podIP"] = json!(pod_ip);
        p["status"]["podIPs"] = json!([{"ip": pod_ip}]);
        p["status"]["startTime"] = json!(now);
        p["status"]["hostIP"] = json!(host_ip);
        obj::set_condition(p, "Initialized", true, "", "", &now);
        obj::set_condition(p, "ContainersReady", true, "", "", &now);
        obj::set_condition(p, "Ready", true, "", "", &now);
        obj::ensure(p, "/metadata/annotations")["k8s.v1.cni.cncf.io/network-status"] =
            json!(network_status);
    })
}

/// A launcher pod whose domain is gone: Succeeded (virt-launcher exits 0).
pub fn finish_pod(ctx: &Ctx, ns: &str, pod: &str) {
    let now = ctx.now();
    ctx.write(kinds::PODS, ns, pod, |p| {
        p["status"]["phase"] = json!("Succeeded");
        obj::set_condition(p, "Ready", false, "PodCompleted", "", &now);
        obj::set_condition(p, "ContainersReady", false, "PodCompleted", "", &now);
    });
}

/// Shuts a deleted VMI down: the guest stops, its pods finish, the finalizers go.
pub async fn shutdown(ctx: Arc<Ctx>, ns: String, name: String, uid: String) {
    if let Some(g) = ctx.guests.get(&uid) {
        guest::lock(&g).go_down();
    }
    ctx.sleep(ctx.spec.durations.shutdown).await;
    for pod in ctx
        .list(kinds::PODS, Some(&ns))
        .iter()
        .filter(|p| obj::label(p, "kubevirt.io/created-by") == Some(&uid))
    {
        finish_pod(&ctx, &ns, obj::name(pod));
        ctx.delete(kinds::PODS, &ns, obj::name(pod));
    }
    let now = ctx.now();
    ctx.write_uid(kinds::VMIS, &ns, &name, &uid, |v| {
        set_phase(v, "Succeeded", &now);
        obj::set_condition(v, "Ready", false, "PodTerminating", "", &now);
        // `finalizers,omitempty`: the last one gone, the field goes too.
        obj::remove_field(v, "/metadata", "finalizers");
    });
    ctx.guests.remove(&uid);
}

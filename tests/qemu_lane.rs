//! The real-guest lane (`--guests qemu`): a Linux VM is a real kernel in qemu, reached over
//! its own sshd, and no qemu process outlives its VMI or the simulator, whether the
//! simulator stops on SIGTERM or is killed outright.
//!
//! Needs qemu-system-x86 (ci/setup.sh installs it) and builds the guest image on first use
//! (`vstp sim guest-image`, cached).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use vstp::cluster::{NamespaceKind, Scope};
use vstp::ctx::Ctx;
use vstp::guest::os::GuestOs;
use vstp::runner::Outcome;

mod support;
use support::runs::{qemu_cluster, run_one, with_body};
use support::Scratch;

/// The lane's tests one at a time: each boots real guests, and two TCG boots at once on a
/// two-core machine would measure the machine, not the lane.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long a killed qemu may take to end.
const EXIT_BUDGET: Duration = Duration::from_secs(30);

/// The qemu processes whose parent is `parent`, by PID.
fn qemu_children(parent: u32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid …`; comm may hold spaces, so read after its last ')'.
        let Some((head, tail)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let alive = fields.first().is_some_and(|state| *state != "Z");
        let child = fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent);
        if head.ends_with("(qemu-system-x86") && alive && child {
            found.push(pid);
        }
    }
    found
}

/// Whether process `pid` ends within `budget`: a pidfd turns readable when it does.
fn ends_within(pid: i32, budget: Duration) -> bool {
    // SAFETY: plain syscalls on a descriptor this function owns.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, pid, 0) as i32;
        if fd < 0 {
            return true; // no such process: it ended and was reaped
        }
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ready = libc::poll(&mut poll, 1, budget.as_millis() as i32);
        libc::close(fd);
        ready == 1
    }
}

fn still_running(pids: &[i32]) -> Vec<i32> {
    pids.iter()
        .copied()
        .filter(|pid| !ends_within(*pid, EXIT_BUDGET))
        .collect()
}

/// How long a line printed on the serial port may take to reach a follower of its log.
const FOLLOW_BUDGET: Duration = Duration::from_secs(30);

fn pods(scope: &Scope) -> kube::Api<k8s_openapi::api::core::v1::Pod> {
    kube::Api::namespaced(scope.client().clone(), scope.ns())
}

/// The launcher pod of VM `vm`, which has one.
async fn launcher_pod(scope: &Scope, vm: &str) -> anyhow::Result<String> {
    let selector = format!("vm.kubevirt.io/name={vm}");
    let listed = pods(scope)
        .list(&kube::api::ListParams::default().labels(&selector))
        .await?;
    let [launcher] = &listed.items[..] else {
        anyhow::bail!("{} launcher pods for {vm}, not one", listed.items.len());
    };
    Ok(launcher.metadata.name.clone().unwrap_or_default())
}

fn serial_log_params() -> kube::api::LogParams {
    kube::api::LogParams {
        container: Some("guest-console-log".into()),
        ..Default::default()
    }
}

/// `kubectl logs -f --tail=0 -c guest-console-log <pod>`: its lines from now on.
async fn follow_serial_log(
    scope: &Scope,
    pod: &str,
) -> anyhow::Result<impl futures::Stream<Item = std::io::Result<String>>> {
    use futures::AsyncBufReadExt;
    let params = kube::api::LogParams {
        follow: true,
        tail_lines: Some(0),
        ..serial_log_params()
    };
    Ok(pods(scope).log_stream(pod, &params).await?.lines())
}

/// Waits, within [`FOLLOW_BUDGET`], for a followed log to bring a line holding `marker`.
async fn heard(
    log: impl futures::Stream<Item = std::io::Result<String>>,
    marker: &str,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    let mut log = std::pin::pin!(log);
    let mut lines = Vec::new();
    let found = tokio::time::timeout(FOLLOW_BUDGET, async {
        while let Some(line) = log.next().await {
            let line = line?;
            if line.contains(marker) {
                return Ok::<bool, std::io::Error>(true);
            }
            lines.push(line);
        }
        Ok(false)
    })
    .await;
    match found {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => {
            anyhow::bail!("the followed serial log ended without {marker:?}: {lines:?}")
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => anyhow::bail!(
            "the followed serial log brought no {marker:?} within {FOLLOW_BUDGET:?}, only {lines:?}"
        ),
    }
}

/// Boots a RHEL VM and reads, over SSH, what only the real kernel knows, and off a follower
/// of its serial log what it prints there, which its first launcher still shows once a
/// migration has moved the guest away; records the qemu processes alive meanwhile.
async fn real_kernel(ctx: Ctx, seen: Arc<Mutex<Vec<i32>>>) -> anyhow::Result<()> {
    let scope = ctx.scope(NamespaceKind::Plain).await?;
    let vm = ctx.vm("real", GuestOs::Rhel).await?;
    let running = ctx.start(&scope, &vm).await?;
    let kernel = running.guest.ok("uname -r").await?;
    anyhow::ensure!(
        kernel.trim().ends_with("-cloud-amd64"),
        "`uname -r` said {kernel:?}, not the Debian cloud kernel of the guest image"
    );
    let mac = running.guest.ok("cat /sys/class/net/eth0/address").await?;
    let status_mac = running.vmi().await?.mac_of("default");
    anyhow::ensure!(
        Some(mac.trim().to_string()) == status_mac,
        "eth0 has MAC {mac:?}, the VMI status says {status_mac:?}"
    );
    running.guest.ok("ping -c 1 -W 2 10.0.2.1").await?;
    let marker = format!("vstp-follow-{}", std::process::id());
    let first = launcher_pod(&scope, "real").await?;
    let log = follow_serial_log(&scope, &first).await?;
    let print = format!("echo {marker} | sudo tee /dev/ttyS0 >/dev/null");
    running.guest.ok(&print).await?;
    heard(log, &marker).await?;
    let booted = qemu_children(std::process::id());
    anyhow::ensure!(booted.len() == 1, "one VM, one qemu process: {booted:?}");
    seen.lock().unwrap().extend(&booted);
    running.migrate().await?;
    let left = pods(&scope).logs(&first, &serial_log_params()).await?;
    anyhow::ensure!(
        left.contains(&marker),
        "the migration's source {first} no longer shows what the guest printed there: {left:?}"
    );
    // The target's, and the source's if it is still ending.
    let migrated = qemu_children(std::process::id());
    anyhow::ensure!(
        migrated.iter().any(|pid| !booted.contains(pid)),
        "no target qemu after the migration: {migrated:?}, booted as {booted:?}"
    );
    seen.lock().unwrap().extend(migrated);
    Ok(())
}

#[test]
fn a_linux_vm_is_a_real_kernel_reached_over_its_own_sshd_and_its_qemu_ends_with_it() {
    let _turn = one_at_a_time();
    let sim = qemu_cluster("qemu-real-kernel");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let during = seen.clone();
    let body = move |ctx: Ctx| -> BoxFuture<'static, anyhow::Result<()>> {
        real_kernel(ctx, during.clone()).boxed()
    };
    let (outcome, log) = run_one(&sim, with_body(body));
    assert_eq!(outcome, Outcome::Passed, "{log}");
    let seen = seen.lock().unwrap().clone();
    let left = still_running(&seen);
    assert!(
        left.is_empty(),
        "qemu {left:?} outlived the scenario's teardown"
    );
}

/// Boots a RHEL VM; the first time, crashes its kernel through sysrq (the SSH command never
/// returns, and the scenario fails on it); the second time, passes.
async fn crash_first_time(ctx: Ctx, attempts: Arc<AtomicU32>) -> anyhow::Result<()> {
    let scope = ctx.scope(NamespaceKind::Plain).await?;
    let vm = ctx.vm("crashing", GuestOs::Rhel).await?;
    let running = ctx.start(&scope, &vm).await?;
    if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
        let out = running
            .guest
            .exec("sudo sh -c 'echo c > /proc/sysrq-trigger'")
            .await?;
        anyhow::bail!("the guest survived a sysrq crash: {out}");
    }
    Ok(())
}

/// A real guest kernel crash is read off KubeVirt's `guest-console-log` container (the
/// simulator serves qemu's serial log there), named in the verdict, and, in the qemu lane,
/// the scenario runs once more; the JUnit keeps the first attempt as a `<flakyFailure>`.
#[test]
fn a_guest_kernel_crash_is_read_off_its_serial_log_and_the_scenario_runs_once_more() {
    let _turn = one_at_a_time();
    let sim = qemu_cluster("qemu-kernel-crash");
    let attempts = Arc::new(AtomicU32::new(0));
    let counted = attempts.clone();
    let body = move |ctx: Ctx| -> BoxFuture<'static, anyhow::Result<()>> {
        crash_first_time(ctx, counted.clone()).boxed()
    };
    let (outcome, junit) = run_one(&sim, with_body(body));
    assert_eq!(outcome, Outcome::Passed, "{junit}");
    assert_eq!(attempts.load(Ordering::SeqCst), 2, "{junit}");
    let flaky = junit
        .split("<flakyFailure")
        .nth(1)
        .unwrap_or_else(|| panic!("no <flakyFailure> in {junit}"));
    assert!(
        flaky.contains("guest kernel crashed") && flaky.contains("sysrq triggered crash"),
        "{flaky}"
    );
}

/// `vstp sim serve --guests qemu` with one VM whose guest agent connected, and the qemu
/// processes it runs.
struct Serving {
    child: std::process::Child,
    qemu: Vec<i32>,
    /// Its TMPDIR, where the lane keeps its sockets and logs.
    dir: Scratch,
}

impl Serving {
    /// The lane's runtime folder (sim/src/qemu/lane.rs: `vstp-qemu-<pid>` in TMPDIR).
    fn runtime(&self) -> std::path::PathBuf {
        self.dir.join(&format!("vstp-qemu-{}", self.child.id()))
    }
}

/// How long the VM may take to boot to its agent (a TCG boot takes about ten seconds).
const BOOT_BUDGET: Duration = Duration::from_secs(120);

fn serve_with_a_vm(label: &str) -> Serving {
    let dir = Scratch::new(label);
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vstp"))
        .args([
            "sim",
            "serve",
            "--guests",
            "qemu",
            "--tidy",
            "--time-scale",
            "10",
        ])
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .env("TMPDIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vstp sim serve starts");
    serving_said_so(&mut child);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(boot_one_vm(&kubeconfig));
    let qemu = qemu_children(child.id());
    assert_eq!(
        qemu.len(),
        1,
        "one VM, one qemu process of the simulator: {qemu:?}"
    );
    Serving { child, qemu, dir }
}

/// Reads serve's first line, which says it serves (the kubeconfig is written before), and
/// drains the rest.
fn serving_said_so(child: &mut std::process::Child) {
    let stdout = child.stdout.take().expect("piped");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(
        first.starts_with("vstp-sim serving"),
        "serve said {first:?}"
    );
    std::thread::spawn(move || lines.for_each(drop));
}

async fn boot_one_vm(kubeconfig: &std::path::Path) {
    use kube::api::{DynamicObject, PostParams};
    use kube::runtime::wait::await_condition;
    let text = std::fs::read_to_string(kubeconfig).expect("the kubeconfig");
    let file = kube::config::Kubeconfig::from_yaml(&text).expect("a kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .expect("a usable kubeconfig");
    let client = kube::Client::try_from(config).expect("a client");
    let image = vstp::cluster::build::Image::ContainerDisk(
        "registry.redhat.io/rhel9/rhel-guest-image:latest".into(),
    );
    let vm: DynamicObject =
        serde_json::from_value(vstp::cluster::build::VmSpec::rhel("orphan", image).build())
            .expect("a VM object");
    let vms = vstp::cluster::kinds::VM.api(&client, "default");
    vms.create(&PostParams::default(), &vm)
        .await
        .expect("the VM is created");
    let vmis = vstp::cluster::kinds::VMI.api(&client, "default");
    let connected = |o: Option<&DynamicObject>| {
        o.and_then(|o| o.data["status"]["conditions"].as_array().cloned())
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "AgentConnected" && c["status"] == "True")
    };
    tokio::time::timeout(BOOT_BUDGET, await_condition(vmis, "orphan", connected))
        .await
        .expect("the guest agent connects within the boot budget")
        .expect("the VMI watch works");
}

fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status();
    assert!(
        sent.is_ok_and(|s| s.success()),
        "cannot send {name} to {pid}"
    );
}

#[test]
fn sim_serve_ends_its_qemu_processes_when_stopped_by_sigterm() {
    let _turn = one_at_a_time();
    let mut serving = serve_with_a_vm("qemu-sigterm");
    signal(serving.child.id(), "TERM");
    let status = serving.child.wait().expect("serve exits");
    assert!(status.success(), "serve ended with {status} on SIGTERM");
    let left = still_running(&serving.qemu);
    assert!(left.is_empty(), "qemu {left:?} outlived `vstp sim serve`");
    let runtime = serving.runtime();
    assert!(!runtime.exists(), "{} outlived serve", runtime.display());
}

#[test]
fn sim_serve_killed_outright_takes_its_qemu_processes_with_it() {
    let _turn = one_at_a_time();
    let mut serving = serve_with_a_vm("qemu-sigkill");
    signal(serving.child.id(), "KILL");
    let _ = serving.child.wait();
    let left = still_running(&serving.qemu);
    assert!(
        left.is_empty(),
        "qemu {left:?} outlived a killed `vstp sim serve`"
    );
    // A killed process cannot tidy up: the next lane removes the folder it left.
    let runtime = serving.runtime();
    assert!(runtime.exists(), "{} should be left", runtime.display());
    let mut next = Command::new(env!("CARGO_BIN_EXE_vstp"))
        .args(["sim", "serve", "--guests", "qemu", "--tidy"])
        .arg("--kubeconfig-out")
        .arg(serving.dir.join("next.kubeconfig"))
        .env("TMPDIR", serving.dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("a second serve starts");
    serving_said_so(&mut next);
    let swept = !runtime.exists();
    signal(next.id(), "TERM");
    let _ = next.wait();
    assert!(swept, "the next lane left {} behind", runtime.display());
}

/// The rows CI runs in the lane: a bridge NAD swap (real frames on two VLANs, a real
/// migration) and a second migration of the migrated guest, a CPU hotplug the real kernel
/// onlines, whose migration AllowWorkloadDisruption pauses under a real memory dirtier, and a
/// NIC hotplug (a real `device_add` on the migration's target, configured by the guest).
/// `ci/qemu-lane.sh` runs the whole catalogue.
///
/// A migration of a busy guest now and then meets qemu's TCG losing a store from its dirty
/// tracking, and the target's kernel dies on the stale page. The runner reads that off the
/// target's serial log and runs such a row once more (trial.rs `rerun_reason`); a second
/// crash, or any other failure, stays red. The AWD post-copy row is left to the lane script:
/// under this test's load its target crashed in 4 of 4 attempts (2026-12-03), so a rerun does
/// not save it.
const CI_ROWS: [&str; 3] = [
    "sig-network/hotpluggable-nad-ref/VIRTSTRAT-560/migrate-after-swap",
    "sig-virt/workload-disruption-migration/CNV-15234/rhel-cpu-hotplug",
    "sig-network/nic-hotplug/VSTP-101/hotplug-bridge-nic",
];

#[test]
fn a_nad_swap_an_awd_paused_cpu_hotplug_and_a_nic_hotplug_pass_with_real_guests() {
    let _turn = one_at_a_time();
    let dir = Scratch::new("qemu-rows");
    let out = Command::new(env!("CARGO_BIN_EXE_vstp"))
        .args(["run", "--guests", "qemu"])
        .args(CI_ROWS)
        .env("ARTIFACT_DIR", dir.path())
        .env_remove("VSTP_CONFIG")
        .output()
        .expect("vstp runs");
    let junit = std::fs::read_to_string(dir.join("junit_vstp.xml")).unwrap_or_default();
    let report = support::junit::parse(&junit);
    let said = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = said.lines().rev().take(25).collect();
    assert!(
        out.status.success(),
        "the lane's rows failed ({}):\n{}",
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    let names: Vec<&str> = report.cases.iter().map(|c| c.name.as_str()).collect();
    for row in CI_ROWS {
        assert!(
            names.contains(&row),
            "{row} is not among the cases run: {names:?}"
        );
    }
    let unpassed = ["<failure", "<error", "<skipped"];
    assert!(
        !unpassed.iter().any(|u| junit.contains(u)),
        "a case did not pass: {junit}"
    );
    // A number for the log, not an assertion: how often TCG's lost store made a row rerun.
    let reruns: Vec<&str> = said.lines().filter(|l| l.contains("once more")).collect();
    println!(
        "qemu lane rows: {} rerun(s) after a guest kernel crash",
        reruns.len()
    );
    for line in reruns {
        println!("  {line}");
    }
}

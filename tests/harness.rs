//! The harness library against a standalone simulator used as a real cluster would be
//! (`--target cluster` with its kubeconfig): what a run leaves behind, teardown on failure and
//! on Ctrl-C, diagnostics, drain, and waits that time out.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use kube::api::ListParams;
use serde_json::Value;
use vstp::cluster::kinds::to_value;
use vstp::cluster::scope::RUN_LABEL;
use vstp::cluster::sweep::{self, Leftovers};
use vstp::cluster::wait::Watch;
use vstp::cluster::{
    cordon, drain, kinds, nodes, setups, NamespaceKind, Scope, TargetKind, TargetOptions,
};
use vstp::ctx::Ctx;
use vstp::guest::os::GuestOs;
use vstp::runner::{Interrupter, Outcome, Planned, Run, RunConfig, RunReport};
use vstp::scenarios::Attach;

mod support;
use support::Scratch;

/// A simulator on its own runtime, as `vstp sim serve` would run, with a kubeconfig file.
struct Standalone {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    kubeconfig: PathBuf,
    _sim: vstp_sim::SimHandle,
    dir: Scratch,
}

impl Standalone {
    fn start(name: &str) -> Standalone {
        Standalone::with_faults(name, "")
    }

    /// A simulator with faults from its catalogue (`api-throttle,watch-drops`, ...).
    fn with_faults(name: &str, faults: &str) -> Standalone {
        let dir = Scratch::new(&format!("harness-{name}"));
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let sim = runtime.block_on(async {
            let mut config = vstp_sim::SimConfig::cluster(Default::default()).unwrap();
            config.faults = faults.into();
            vstp_sim::Sim::start(config).await.unwrap()
        });
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, sim.kubeconfig()).unwrap();
        let client = runtime.block_on(async {
            let file = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
            let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .unwrap();
            kube::Client::try_from(config).unwrap()
        });
        Standalone {
            runtime,
            client,
            kubeconfig,
            _sim: sim,
            dir,
        }
    }

    fn config(&self) -> RunConfig {
        let options = TargetOptions {
            target: TargetKind::Cluster,
            kubeconfig: Some(self.kubeconfig.clone()),
            context: None,
            settings: None,
            sim_faults: None,
            sim_seed: None,
            guests: None,
        };
        let mut config = RunConfig::new(options, true);
        config.junit_path = self.dir.join("junit.xml");
        config.artifacts = self.dir.join("artifacts");
        config.handle_signals = false;
        config
    }

    /// Names of every object of `kind` labelled with `run_id`.
    fn labelled(&self, kind: kinds::Kind, run_id: &str) -> Vec<String> {
        let params = ListParams::default().labels(&format!("{RUN_LABEL}={run_id}"));
        let listed = self
            .runtime
            .block_on(kind.all(&self.client).list(&params))
            .unwrap();
        listed
            .items
            .iter()
            .filter_map(|o| o.metadata.name.clone())
            .collect()
    }

    /// Asserts nothing the run labelled is left, and no node stays cordoned.
    fn assert_nothing_left(&self, run_id: &str) {
        for kind in [
            kinds::NAMESPACE,
            kinds::NNCP,
            kinds::MIGRATION_POLICY,
            kinds::VM,
            kinds::NAD,
        ] {
            let left = self.labelled(kind, run_id);
            assert!(left.is_empty(), "{} left behind: {left:?}", kind.plural);
        }
        let nodes = self
            .runtime
            .block_on(kinds::NODE.all(&self.client).list(&Default::default()))
            .unwrap();
        let cordoned: Vec<Value> = nodes
            .items
            .iter()
            .map(to_value)
            .filter(|n| n["spec"]["unschedulable"] == true)
            .collect();
        assert!(cordoned.is_empty(), "cordoned nodes left: {cordoned:?}");
    }

    /// Whether any worker still has interface `name` in its NodeNetworkState.
    fn interface_on_nodes(&self, name: &str) -> bool {
        let listed = self
            .runtime
            .block_on(kinds::NNS.all(&self.client).list(&Default::default()))
            .unwrap();
        listed.items.iter().map(to_value).any(|s| {
            s["status"]["currentState"]["interfaces"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|i| i["name"] == name)
        })
    }
}

fn execute(run: Run) -> RunReport {
    let args = libtest_mimic::Arguments {
        test_threads: Some(1),
        quiet: true,
        ..Default::default()
    };
    run.execute(&args)
}

fn outcome(report: &RunReport) -> Outcome {
    report.cases[0].outcome_now().0
}

/// The catalogue's own scenario `slug`, with its STP row.
fn catalogued(slug: &str) -> Planned {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    let all = vstp::cli::planned_or_problems(&root).unwrap_or_else(|p| panic!("{p:?}"));
    all.into_iter()
        .find(|p| p.scenario.decl.slug == slug)
        .unwrap_or_else(|| panic!("no scenario {slug}"))
}

/// A catalogue row run with a test body instead of its own.
fn with_body<F, Fut>(body: F) -> Planned
where
    F: Fn(Ctx) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut planned = catalogued("bridge-vlan-swap");
    let decl = planned.scenario.decl.budget(Duration::from_secs(60));
    planned.scenario = decl.body(body);
    planned
}

#[test]
fn a_run_leaves_nothing_labelled_with_its_run_id_and_hands_node_networking_back() {
    let sim = Standalone::start("leftovers");
    let config = sim.config();
    let run_id = config.run_id.clone();
    let report = execute(Run::new(config, vec![catalogued("bridge-vlan-swap")]).unwrap());
    assert_eq!(outcome(&report), Outcome::Passed);
    sim.assert_nothing_left(&run_id);
    assert!(
        !sim.interface_on_nodes("br-vstp"),
        "the scenario's bridge is still on a node"
    );
}

static INTERRUPTER: OnceLock<Interrupter> = OnceLock::new();

/// Sets up node networking and a VM, cordons a node, then is interrupted mid-way.
fn interrupted_mid_scenario(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let target = ctx.target().await?;
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        setups::bridged_vlans(&scope, &target.profile).await?;
        let vm = ctx.vm("vm-a", GuestOs::Rhel).await?;
        let running = ctx.start(&scope, &vm).await?;
        let usable = vstp::cluster::usable::select(scope.client()).await?.names();
        let idle = usable.iter().find(|w| *w != running.booted_on()).unwrap();
        nodes::cordon(&scope, idle).await?;
        ctx.step("cordoned a node, now waiting forever");
        INTERRUPTER.get().expect("set").interrupt("SIGINT");
        std::future::pending::<()>().await;
        Ok(())
    }
    .boxed()
}

#[test]
fn a_ctrl_c_mid_scenario_leaves_nothing_behind_and_uncordons_nodes() {
    let sim = Standalone::start("interrupt");
    let config = sim.config();
    let run_id = config.run_id.clone();
    let run = Run::new(config, vec![with_body(interrupted_mid_scenario)]).unwrap();
    INTERRUPTER
        .set(run.interrupter())
        .ok()
        .expect("one interrupt test");
    let report = execute(run);
    let Outcome::Error(message) = outcome(&report) else {
        panic!("not an error: {:?}", outcome(&report))
    };
    assert!(message.contains("interrupted by SIGINT"), "{message}");
    sim.assert_nothing_left(&run_id);
    assert!(!sim.interface_on_nodes("br-vstp"));
}

/// Creates a PVC, boots a VM, then fails an assertion.
fn fails_after_boot(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let claim = vstp::cluster::build::storage::rwo_claim("data-a", "1Gi", None);
        scope.create(kinds::PVC, claim).await?;
        let vm = ctx.vm("vm-a", GuestOs::Rhel).await?;
        let running = ctx.start(&scope, &vm).await?;
        running.guest.boot().await?;
        anyhow::bail!("the guest was expected to answer differently")
    }
    .boxed()
}

#[test]
fn a_failure_saves_diagnostics_before_teardown_and_names_their_folder() {
    let sim = Standalone::start("diagnostics");
    let config = sim.config();
    let run_id = config.run_id.clone();
    let report = execute(Run::new(config, vec![with_body(fails_after_boot)]).unwrap());
    let Outcome::Failed(message) = outcome(&report) else {
        panic!("not a failure: {:?}", outcome(&report))
    };
    let folder = message
        .lines()
        .find_map(|l| l.strip_prefix("diagnostics: "))
        .unwrap_or_else(|| panic!("no diagnostics path in {message}"));
    let folder = PathBuf::from(folder);
    let vms = std::fs::read_to_string(folder.join("virtualmachines.yaml")).unwrap();
    assert!(vms.contains("name: vm-a"), "{vms}");
    let vmis = std::fs::read_to_string(folder.join("virtualmachineinstances.yaml")).unwrap();
    assert!(vmis.contains("AgentConnected"), "{vmis}");
    let transcript = std::fs::read_to_string(folder.join("guest-vm-a.txt")).unwrap();
    assert!(transcript.contains("boot_id"), "{transcript}");
    assert_launcher_side_saved(&folder);
    sim.assert_nothing_left(&run_id);
}

/// PVCs (DataVolumes: none, the VM boots from a container disk, so no file), the
/// NodeNetworkState of the VM's node only, the launcher's log and what the guest's serial
/// console showed.
fn assert_launcher_side_saved(folder: &std::path::Path) {
    let read = |name: &str| {
        std::fs::read_to_string(folder.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(read("persistentvolumeclaims.yaml").contains("name: data-a"));
    assert!(
        !folder.join("datavolumes.yaml").exists(),
        "DataVolumes listed where there are none"
    );
    let vmis: Vec<Value> = serde_saphyr::from_str(&read("virtualmachineinstances.yaml")).unwrap();
    let node = vmis[0]["status"]["nodeName"].as_str().unwrap();
    let states: Vec<Value> = serde_saphyr::from_str(&read("nodenetworkstates.yaml")).unwrap();
    let named: Vec<&str> = states
        .iter()
        .filter_map(|s| s["metadata"]["name"].as_str())
        .collect();
    assert_eq!(named, [node], "only the VM's node");
    let launcher = std::fs::read_dir(folder)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|f| f.starts_with("launcher-virt-launcher-vm-a-"))
        .expect("the launcher's log");
    assert!(!read(&launcher).trim().is_empty(), "{launcher} is empty");
    let console = read("console-vm-a.log");
    assert!(console.trim_end().ends_with("vm-a login:"), "{console}");
}

/// Drains the VM's node: the VM migrates away, the node ends cordoned and empty.
fn drains_a_node(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let vm = ctx.vm("vm-a", GuestOs::Rhel).await?;
        let running = ctx.start(&scope, &vm).await?;
        let node = running.booted_on().to_string();
        let budget = scope.budgets.of(vstp::cluster::Wait::Drain);
        drain::drain(&scope, &node, budget).await?;
        anyhow::ensure!(
            vstp::cluster::cordon::is_cordoned(scope.client(), &node).await?,
            "not cordoned"
        );
        let vmi = Watch::object(scope.client(), kinds::VMI, scope.ns(), "vm-a")
            .until_object("vm-a to run elsewhere", budget, |v| {
                v["status"]["nodeName"].as_str().is_some_and(|n| n != node)
                    && v["status"]["migrationState"]["completed"] == true
            })
            .await?;
        ctx.step(format!("moved to {}", vmi["status"]["nodeName"]));
        running.guest.reconnect().await;
        running.guest.boot().await?;
        Ok(())
    }
    .boxed()
}

#[test]
fn a_drain_evicts_through_the_api_and_the_node_is_uncordoned_by_teardown() {
    let sim = Standalone::start("drain");
    let config = sim.config();
    let run_id = config.run_id.clone();
    let report = execute(Run::new(config, vec![with_body(drains_a_node)]).unwrap());
    assert_eq!(outcome(&report), Outcome::Passed);
    sim.assert_nothing_left(&run_id);
}

#[test]
fn a_wait_that_times_out_names_what_it_awaited_and_what_it_saw() {
    let sim = Standalone::start("timeout");
    let error = sim.runtime.block_on(async {
        Watch::object(&sim.client, kinds::NODE, "", "worker-0")
            .until_object(
                "worker-0 to become a control plane",
                Duration::from_millis(500),
                |n| n["metadata"]["labels"]["node-role.kubernetes.io/control-plane"].is_string(),
            )
            .await
            .unwrap_err()
    });
    let text = error.to_string();
    assert!(
        text.contains("waiting for worker-0 to become a control plane"),
        "{text}"
    );
    assert!(text.contains("Node [metadata.name=worker-0]"), "{text}");
    assert!(
        text.contains("worker-0: ") && text.contains("Ready=True"),
        "{text}"
    );
}

/// What a crashed run leaves: a namespace with a VM's NAD, node networking, a cordon.
async fn crash_leftovers(client: &kube::Client, run_id: &str) -> anyhow::Result<()> {
    let budgets = vstp::cluster::Budgets::of_sim(client).await?;
    let scope = Scope::open(client, run_id, "crashed", NamespaceKind::Plain, budgets).await?;
    setups::bridged_vlans(&scope, &vstp::cluster::Profile::default()).await?;
    nodes::cordon(&scope, "worker-2").await?;
    Ok(())
}

#[test]
fn cleanup_removes_exactly_what_one_run_left_and_uncordons_its_nodes() {
    let sim = Standalone::start("cleanup");
    sim.runtime
        .block_on(crash_leftovers(&sim.client, "20261129-000000-dead"))
        .unwrap();
    let other = sim.runtime.block_on(async {
        let budgets = vstp::cluster::Budgets::of_sim(&sim.client).await.unwrap();
        Scope::open(
            &sim.client,
            "20261129-000000-beef",
            "alive",
            NamespaceKind::Plain,
            budgets,
        )
        .await
        .unwrap()
    });
    let swept = sim.runtime.block_on(async {
        let budgets = vstp::cluster::Budgets::of_sim(&sim.client).await.unwrap();
        sweep::sweep(
            &sim.client,
            &Leftovers::Run("20261129-000000-dead".into()),
            &budgets,
        )
        .await
    });
    assert!(swept.problems.is_empty(), "{:?}", swept.problems);
    assert!(
        swept
            .removed
            .iter()
            .any(|r| r.starts_with("NodeNetworkConfigurationPolicy")),
        "{:?}",
        swept.removed
    );
    sim.assert_nothing_left("20261129-000000-dead");
    assert!(!sim.interface_on_nodes("br-vstp"));
    assert_eq!(
        sim.labelled(kinds::NAMESPACE, "20261129-000000-beef"),
        [other.ns()]
    );
}

/// A node cordoned by a run that has no namespace left is an orphan (a scenario cordons
/// inside its namespace and uncordons before deleting it): an age sweep takes the cordon back
/// even though nothing of that run is old enough. A node cordoned by a run whose young
/// namespace is there is that run's business and stays cordoned.
#[test]
fn cleanup_by_age_uncordons_nodes_of_runs_without_namespaces_and_spares_live_runs() {
    let sim = Standalone::start("orphan-cordon");
    let budgets = sim
        .runtime
        .block_on(vstp::cluster::Budgets::of_sim(&sim.client))
        .unwrap();
    let _live = sim.runtime.block_on(async {
        let run = "20261129-000000-live";
        let scope = Scope::open(&sim.client, run, "alive", NamespaceKind::Plain, budgets)
            .await
            .unwrap();
        nodes::cordon(&scope, "worker-2").await.unwrap();
        let gone = Some("20261129-000000-gone");
        cordon::set_unschedulable(&sim.client, "worker-1", gone)
            .await
            .unwrap();
        scope
    });
    let day = Leftovers::OlderThan(Duration::from_secs(86_400));
    let found = sim.runtime.block_on(sweep::find(&sim.client, &day));
    assert_eq!(found.describe(), ["cordon of node worker-1"]);
    let swept = sim
        .runtime
        .block_on(sweep::sweep(&sim.client, &day, &budgets));
    assert!(swept.problems.is_empty(), "{:?}", swept.problems);
    let cordoned = |node| {
        sim.runtime
            .block_on(cordon::is_cordoned(&sim.client, node))
            .unwrap()
    };
    assert!(!cordoned("worker-1"), "the orphaned cordon is taken back");
    assert!(cordoned("worker-2"), "the live run's cordon is left alone");
}

#[test]
fn preflight_turns_a_missing_prerequisite_into_skips_with_the_reason() {
    let sim = Standalone::start("preflight");
    sim.runtime.block_on(async {
        let api = kinds::KUBEVIRT.all(&sim.client);
        let list = api.list(&Default::default()).await.unwrap();
        let cr = &list.items[0];
        let api = kinds::KUBEVIRT.api(&sim.client, cr.metadata.namespace.as_deref().unwrap());
        let patch =
            serde_json::json!({"spec": {"workloadUpdateStrategy": {"workloadUpdateMethods": []}}});
        api.patch(
            cr.metadata.name.as_deref().unwrap(),
            &Default::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    });
    let report = execute(Run::new(sim.config(), vec![catalogued("bridge-vlan-swap")]).unwrap());
    let Outcome::Skipped(reason) = outcome(&report) else {
        panic!("not skipped: {:?}", outcome(&report))
    };
    assert!(
        reason.starts_with("preflight: ") && reason.contains("without LiveMigrate"),
        "{reason}"
    );
    let xml = std::fs::read_to_string(&report.junit_path).unwrap();
    assert!(
        xml.contains("<skipped") && xml.contains("without LiveMigrate"),
        "{xml}"
    );
}

#[test]
fn a_scenario_rides_out_throttling_server_errors_and_dropped_watches() {
    let sim = Standalone::with_faults("faults", "api-throttle,api-unavailable,watch-drops");
    let config = sim.config();
    let run_id = config.run_id.clone();
    let report = execute(Run::new(config, vec![catalogued("bridge-vlan-swap")]).unwrap());
    assert_eq!(outcome(&report), Outcome::Passed);
    sim.assert_nothing_left(&run_id);
}

/// Commands answer with stdout, stderr and exit code; after a migration the old port-forward
/// is gone and the next command reconnects by itself.
fn guest_access(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let vm = ctx.vm("vm-a", GuestOs::Rhel).await?;
        let running = ctx.start(&scope, &vm).await?;
        let guest = &running.guest;
        let missing = guest.exec("cat /nonexistent").await?;
        anyhow::ensure!(missing.code == 1 && missing.stdout.is_empty(), "{missing}");
        anyhow::ensure!(
            missing.stderr.contains("No such file or directory"),
            "{missing}"
        );
        let unknown = guest.exec("frobnicate").await?;
        anyhow::ensure!(unknown.code == 127, "{unknown}");
        let before = guest.boot().await?;
        running.migrate().await?;
        let after = guest.boot().await?;
        anyhow::ensure!(before.same_as(&after), "rebooted: {before} → {after}");
        let transcript = guest.transcript().join("\n");
        anyhow::ensure!(
            transcript.contains("the SSH session broke"),
            "no reconnect seen in:\n{transcript}"
        );
        Ok(())
    }
    .boxed()
}

#[test]
fn guest_commands_report_their_output_and_survive_a_migration_by_reconnecting() {
    let sim = Standalone::start("guest");
    let report = execute(Run::new(sim.config(), vec![with_body(guest_access)]).unwrap());
    assert_eq!(outcome(&report), Outcome::Passed);
}

/// A guest command that outlives its budget fails, naming the command, without being sent
/// twice; the next command gets a new session.
fn guest_command_timeout(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let vm = ctx.vm("vm-a", GuestOs::Rhel).await?;
        ctx.start(&scope, &vm).await?;
        let login = vstp::guest::ssh::Login {
            user: "cloud-user".into(),
            key: ctx.key_path().await?,
            password: None,
            timeout: Duration::from_secs(1),
        };
        let guest = vstp::guest::access::Guest::new(
            scope.client(),
            scope.ns(),
            "vm-a",
            GuestOs::Rhel,
            login,
        );
        // Had the harness waited for the command rather than its budget, the sleep would have
        // finished (600 guest seconds are 10 real ones at 60×) and the call returned Ok.
        let error = match guest.exec("sleep 600").await {
            Ok(out) => anyhow::bail!("a 600 s sleep finished within a 1 s budget: {out}"),
            Err(e) => format!("{e:#}"),
        };
        anyhow::ensure!(
            error.contains("`sleep 600` did not finish within 1s"),
            "{error}"
        );
        let sent = guest
            .transcript()
            .iter()
            .filter(|t| t.starts_with("$ sleep 600"))
            .count();
        anyhow::ensure!(sent == 1, "the timed-out command was sent {sent} times");
        guest.ok("nproc").await?;
        Ok(())
    }
    .boxed()
}

#[test]
fn a_guest_command_that_outlives_its_budget_fails_and_the_next_one_works() {
    let sim = Standalone::start("exec-timeout");
    let report = execute(Run::new(sim.config(), vec![with_body(guest_command_timeout)]).unwrap());
    assert_eq!(outcome(&report), Outcome::Passed);
}

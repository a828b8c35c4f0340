//! A simulated cluster for tests that drive vstp as a user would, against a cluster it did
//! not start itself: the fault matrix and the interrupt tests. The simulator runs on its own
//! runtime, so it outlives the runs (and the processes) pointed at it, and what they left
//! behind can be looked for afterwards.

#![allow(dead_code)] // each test target uses its part

pub mod junit;
pub mod runs;
pub mod snapshot;

use std::path::{Path, PathBuf};

use vstp::cluster::sweep::{self, Leftovers};
use vstp::cluster::{TargetKind, TargetOptions};

/// A fresh directory in the temp dir for one test. It goes when the test passes and stays
/// after a failure, with what the run wrote there, for a look.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `vstp-test-<label>-<pid>`, emptied if an earlier test process left it.
    pub fn new(label: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("vstp-test-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub struct SimCluster {
    pub runtime: tokio::runtime::Runtime,
    sim: Option<vstp_sim::SimHandle>,
    pub kubeconfig: PathBuf,
    dir: Scratch,
}

impl SimCluster {
    /// A simulated cluster with `faults` (a catalogue list, empty for none) and timings seeded
    /// with `seed`; its kubeconfig is written in a fresh directory named after `label`.
    pub fn start(label: &str, faults: &str, seed: u64) -> SimCluster {
        let mut config = vstp_sim::SimConfig::cluster(Default::default()).expect("a cluster");
        config.faults = faults.to_string();
        config.seed = Some(seed);
        SimCluster::with_config(&format!("{label}-{seed}"), config)
    }

    /// A simulated cluster started with `config` (its own faults, seed, time scale).
    pub fn with_config(label: &str, config: vstp_sim::SimConfig) -> SimCluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let sim = runtime
            .block_on(vstp_sim::Sim::start(config))
            .expect("the simulator starts");
        let dir = Scratch::new(label);
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, sim.kubeconfig()).expect("the kubeconfig is written");
        SimCluster {
            runtime,
            sim: Some(sim),
            kubeconfig,
            dir,
        }
    }

    /// The requests the simulator served and when it committed each change.
    pub fn telemetry(&self) -> &vstp_sim::telemetry::Telemetry {
        self.sim
            .as_ref()
            .expect("running until dropped")
            .telemetry()
    }

    /// `vstp run` against this simulator as a cluster (disruptive scenarios allowed), JUnit
    /// and artifacts in `path("artifacts")`, stderr piped (the run's progress), stdout
    /// dropped. Add a selection and options, then spawn it.
    pub fn vstp_run(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_vstp"));
        command
            .args([
                "run",
                "--target",
                "cluster",
                "--allow-disruptive",
                "--kubeconfig",
            ])
            .arg(&self.kubeconfig)
            .env("ARTIFACT_DIR", self.path("artifacts"))
            .env_remove("VSTP_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command
    }

    /// Forgets the simulator's watch history, as etcd compaction does: replays from earlier
    /// resourceVersions then get 410 Expired.
    pub fn compact(&self) {
        self.sim
            .as_ref()
            .expect("running until dropped")
            .store()
            .compact();
    }

    /// A scratch path next to the kubeconfig.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Target options that reach this simulator as a cluster.
    pub fn target(&self) -> TargetOptions {
        TargetOptions {
            target: TargetKind::Cluster,
            kubeconfig: Some(self.kubeconfig.clone()),
            context: None,
            sim_faults: None,
            sim_seed: None,
            guests: None,
            settings: None,
        }
    }

    pub fn client(&self) -> kube::Client {
        self.runtime.block_on(async {
            let text = std::fs::read_to_string(&self.kubeconfig).expect("the kubeconfig");
            let file = kube::config::Kubeconfig::from_yaml(&text).expect("a kubeconfig");
            let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .expect("a usable kubeconfig");
            kube::Client::try_from(config).expect("a client")
        })
    }

    /// What run `run_id` left: namespaces, cluster-scoped objects, cordoned nodes (and any
    /// problem listing them), one line each.
    pub fn leftovers(&self, run_id: &str) -> Vec<String> {
        let client = self.client();
        self.runtime.block_on(async {
            let found = sweep::find(&client, &Leftovers::Run(run_id.to_string())).await;
            let mut lines = found.describe();
            lines.extend(found.problems.iter().map(|p| format!("problem: {p}")));
            lines
        })
    }

    /// Every listable object and every node's scheduling marks, through discovery.
    pub fn snapshot(&self) -> snapshot::Snapshot {
        let client = self.client();
        self.runtime.block_on(snapshot::Snapshot::take(&client))
    }

    /// Nodes marked unschedulable, by anyone. The list rides out the simulator's API faults as
    /// the harness does (every tenth request fails under `api-unavailable`).
    pub fn cordoned_nodes(&self) -> Vec<String> {
        let client = self.client();
        self.runtime.block_on(async {
            let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
            let params = Default::default();
            let listed = vstp::cluster::retry::retrying(|| api.list(&params)).await;
            let nodes = listed.expect("nodes list");
            nodes
                .items
                .iter()
                .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true))
                .filter_map(|n| n.metadata.name.clone())
                .collect()
        })
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            let _guard = self.runtime.enter();
            drop(sim);
        }
    }
}

//! The two targets: the simulated cluster and any kubeconfig context. Scenarios only ever see
//! the `kube::Client` this produces.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{Budgets, Profile};
use crate::guest::key::RunKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// vstp-sim, started in-process.
    Sim,
    /// A real cluster from a kubeconfig.
    Cluster,
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TargetKind::Sim => "sim",
            TargetKind::Cluster => "cluster",
        })
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct TargetOptions {
    /// Where scenarios run: the built-in simulator or a real cluster.
    #[arg(long, value_enum, env = "VSTP_TARGET", default_value_t = TargetKind::Sim)]
    pub target: TargetKind,
    /// kubeconfig for --target cluster (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, env = "VSTP_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context for --target cluster (default: the current context).
    #[arg(long, env = "VSTP_CONTEXT")]
    pub context: Option<String>,
}

/// A connected target.
pub struct Target {
    pub kind: TargetKind,
    pub client: kube::Client,
    /// Wait budgets: real on a cluster, scaled by the simulator's clock on `sim`.
    pub budgets: Budgets,
    pub profile: Profile,
    /// The SSH key every guest of this run trusts.
    pub key: RunKey,
    /// The in-process simulator, kept alive for as long as the target is.
    _sim: Option<vstp_sim::SimHandle>,
}

impl Target {
    /// Connects once per run; called lazily by the first scenario that needs a cluster, so that
    /// listing and pending-only runs never touch one.
    pub async fn connect(options: &TargetOptions) -> anyhow::Result<Target> {
        match options.target {
            TargetKind::Sim => {
                let config = vstp_sim::SimConfig::cluster(Default::default())?;
                let sim = vstp_sim::Sim::start(config)
                    .await
                    .context("cannot start the simulated cluster (vstp-sim)")?;
                let client = sim_client(&sim).await?;
                Ok(Target {
                    kind: TargetKind::Sim,
                    budgets: Budgets::of_sim(&client).await?,
                    profile: Profile::default(),
                    key: RunKey::generate(&crate::runner::new_run_id())?,
                    client,
                    _sim: Some(sim),
                })
            }
            TargetKind::Cluster => {
                let client = cluster_client(options).await?;
                Ok(Target {
                    kind: TargetKind::Cluster,
                    // `vstp sim serve` used as a cluster publishes its clock; a real one does not.
                    budgets: Budgets::of_sim(&client).await.unwrap_or(Budgets::CLUSTER),
                    profile: Profile::default(),
                    key: RunKey::generate(&crate::runner::new_run_id())?,
                    client,
                    _sim: None,
                })
            }
        }
    }
}

/// A client built from the simulator's own kubeconfig, the same path a user's kubectl takes.
async fn sim_client(sim: &vstp_sim::SimHandle) -> anyhow::Result<kube::Client> {
    let file = kube::config::Kubeconfig::from_yaml(&sim.kubeconfig())
        .context("the simulator wrote an unreadable kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .context("the simulator's kubeconfig is not usable")?;
    kube::Client::try_from(config).context("cannot build a Kubernetes client for the simulator")
}

async fn cluster_client(options: &TargetOptions) -> anyhow::Result<kube::Client> {
    let kube_options = kube::config::KubeConfigOptions {
        context: options.context.clone(),
        ..Default::default()
    };
    let config = match &options.kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube_options).await
        }
        None => kube::Config::from_kubeconfig(&kube_options).await,
    }
    .context(
        "cannot load a kubeconfig for --target cluster; pass --kubeconfig FILE or set KUBECONFIG",
    )?;
    kube::Client::try_from(config).context("cannot build a Kubernetes client from the kubeconfig")
}

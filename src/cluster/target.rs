//! The two targets: the simulated cluster and any kubeconfig context. Scenarios only ever see
//! the `kube::Client` this produces.

use std::path::PathBuf;

use anyhow::Context as _;

use super::budget::Budgets;
use super::guest_lane::{self, GuestLane, Guests};
use super::kubeconfig;
use super::preflight::{self, Findings};
use super::profile::Profile;
use super::settings;
use crate::guest::os::GuestOs;

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
    /// Faults the in-process simulator starts with (`vstp sim faults` lists them).
    #[arg(long, env = "VSTP_SIM_FAULTS")]
    pub sim_faults: Option<String>,
    /// Seed of the in-process simulator's timings (default: a new one per run, printed, so a
    /// run can be repeated with the same durations).
    #[arg(long, env = "VSTP_SIM_SEED")]
    pub sim_seed: Option<u64>,
    /// The in-process simulator's guests: `emulated` (default) or `qemu`, real Linux kernels
    /// (`vstp sim guest-image` builds their image; qemu-system-x86 must be installed).
    /// Default: `[sim] guests` of the settings, or `VSTP_GUESTS`.
    #[arg(long, value_enum)]
    pub guests: Option<super::guest_lane::Guests>,
    /// Settings file: images, NICs, VLANs, subnets, storage, timeouts (default: ./vstp.toml
    /// when present, else built-in defaults that fit the simulator).
    #[arg(long = "config", env = "VSTP_CONFIG")]
    pub settings: Option<PathBuf>,
}

impl TargetOptions {
    /// The simulator's guests: the flag, else the settings (with `VSTP_GUESTS`).
    pub fn guest_lane(&self, settings: &settings::Settings) -> GuestLane {
        GuestLane {
            guests: self.guests.unwrap_or(settings.guest_lane.guests),
            ..settings.guest_lane
        }
    }
}

/// The simulated cluster of a run: the default one, with real Linux guests in the qemu lane
/// (their image built first if the cache lacks it).
fn sim_cluster(lane: GuestLane) -> anyhow::Result<vstp_sim::world::nodes::ClusterSpec> {
    let mut spec = vstp_sim::world::nodes::ClusterSpec::default();
    if lane.guests == Guests::Qemu {
        let cache = vstp_sim::qemu::image::cache_root();
        let image = vstp_sim::qemu::image::ensure(&cache, &mut |m| eprintln!("vstp: {m}"))
            .map_err(anyhow::Error::msg)?;
        let qemu =
            vstp_sim::qemu::Lane::new(image, lane.qemu_processes).map_err(anyhow::Error::msg)?;
        eprintln!(
            "vstp: real Linux guests in qemu (TCG), at most {} at once; Windows guests stay emulated",
            lane.qemu_processes
        );
        spec.guests = vstp_sim::qemu::Guests::Qemu(std::sync::Arc::new(qemu));
    }
    Ok(spec)
}

/// A connected target.
pub struct Target {
    pub kind: TargetKind,
    pub client: kube::Client,
    /// Wait budgets: real on a cluster, scaled by the simulator's clock on `sim`.
    pub budgets: Budgets,
    pub profile: Profile,
    /// What preflight found; scenarios whose needs are unmet are skipped with its reason.
    pub findings: Findings,
    /// The in-process simulator's seed (`--sim-seed` repeats its timings).
    pub sim_seed: Option<u64>,
    /// The simulator's guests (in-process, or as `vstp sim serve` publishes them); `None` on
    /// a cluster.
    pub sim_guests: Option<Guests>,
    /// The run's bearer token, for routes behind OpenShift's token-checking proxies
    /// (thanos-querier); `None` when the kubeconfig authenticates otherwise.
    pub bearer_token: Option<String>,
    /// The in-process simulator, kept alive for as long as the target is.
    _sim: Option<vstp_sim::SimHandle>,
}

impl Target {
    /// Modelled seconds per second of the clock a guest of `os` stamps its output with
    /// ([`guest_lane::clock_scale`]).
    pub fn guest_clock_scale(&self, os: GuestOs) -> f64 {
        guest_lane::clock_scale(self.sim_guests, os, self.budgets.scale)
    }

    /// Connects, starting the in-process simulator for `sim`, and runs preflight.
    pub async fn connect(options: &TargetOptions) -> anyhow::Result<Target> {
        let mut sim_seed = None;
        let mut sim_guests = None;
        let bearer_token;
        let settings = settings::load(options.settings.as_deref()).map_err(anyhow::Error::msg)?;
        let (client, sim) = match options.target {
            TargetKind::Sim => {
                let lane = options.guest_lane(&settings);
                sim_guests = Some(lane.guests);
                let mut config = vstp_sim::SimConfig::cluster(sim_cluster(lane)?)?;
                if lane.guests == Guests::Qemu {
                    config.time_scale = guest_lane::QEMU_TIME_SCALE;
                }
                config.faults = options.sim_faults.clone().unwrap_or_default();
                let seed = options.sim_seed.unwrap_or_else(rand::random);
                config.seed = Some(seed);
                sim_seed = Some(seed);
                eprintln!("vstp: simulator seed {seed} (--sim-seed {seed} repeats its timings)");
                let sim = vstp_sim::Sim::start(config)
                    .await
                    .context("cannot start the simulated cluster (vstp-sim)")?;
                bearer_token = Some(sim.token().to_string());
                (kubeconfig::sim_client(&sim).await?, Some(sim))
            }
            TargetKind::Cluster => {
                let (path, context) = (options.kubeconfig.as_deref(), options.context.as_deref());
                let client = kubeconfig::cluster_client(path, context).await?;
                // The client was built from the same file: reading it again cannot fail
                // differently, and a token it lacks only matters to monitoring queries.
                bearer_token = kubeconfig::cluster_token(path, context)
                    .await
                    .ok()
                    .flatten();
                (client, None)
            }
        };
        let version = client
            .apiserver_version()
            .await
            .map_err(kubeconfig::first_contact_failed)?;
        // `vstp sim serve` used as a cluster publishes its clock; a real cluster does not.
        let budgets = Budgets::of_sim(&client).await;
        let simulated = budgets.is_ok();
        if simulated && sim_guests.is_none() {
            sim_guests = guest_lane::of_served_sim(&client).await;
        }
        let mut profile = settings.profile;
        let slack = if profile.slow { 2.0 } else { 1.0 };
        let budgets = budgets.unwrap_or(Budgets::CLUSTER).with_slack(slack);
        // The simulator boots any image; a real cluster needs a Windows image named.
        profile.windows_configured |= simulated;
        let findings = preflight::run(&client, &profile, profile.windows_configured).await;
        eprintln!(
            "vstp: preflight of the {} target (Kubernetes {}.{}):\n  {}",
            options.target,
            version.major,
            version.minor,
            findings.report.join("\n  ")
        );
        Ok(Target {
            kind: options.target,
            client,
            budgets,
            profile,
            findings,
            sim_seed,
            sim_guests,
            bearer_token,
            _sim: sim,
        })
    }
}

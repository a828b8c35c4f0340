//! One catalogue row run against a standalone simulator reached as a cluster, with a test
//! body instead of its own: the guest-layer tests drive the harness through the runner, so
//! what they see is what JUnit reports.

use std::path::PathBuf;
use std::time::Duration;

use vstp::cluster::TargetOptions;
use vstp::ctx::Ctx;
use vstp::runner::{Outcome, Planned, Run, RunConfig, RunReport};
use vstp::scenarios::Attach;

use super::SimCluster;

/// A simulated cluster at `time_scale` modelled seconds per real second.
pub fn cluster(label: &str, time_scale: f64) -> SimCluster {
    let mut config = vstp_sim::SimConfig::cluster(Default::default()).expect("a cluster");
    config.time_scale = time_scale;
    SimCluster::with_config(&format!("guest-{label}-{}", std::process::id()), config)
}

/// A simulated cluster whose Linux guests are real kernels in qemu (the lane's time scale,
/// four qemu processes at most); its image is built first if the cache lacks it.
pub fn qemu_cluster(label: &str) -> SimCluster {
    let cache = vstp_sim::qemu::image::cache_root();
    let image = vstp_sim::qemu::image::ensure(&cache, &mut |m| println!("{m}"))
        .unwrap_or_else(|e| panic!("the guest image: {e}"));
    let lane = vstp_sim::qemu::Lane::new(image, vstp::cluster::guest_lane::MOST_VMS_PER_SCENARIO)
        .unwrap_or_else(|e| panic!("{e}"));
    let spec = vstp_sim::world::nodes::ClusterSpec {
        guests: vstp_sim::qemu::Guests::Qemu(std::sync::Arc::new(lane)),
        ..Default::default()
    };
    let mut config = vstp_sim::SimConfig::cluster(spec).expect("a cluster");
    config.time_scale = vstp::cluster::guest_lane::QEMU_TIME_SCALE;
    SimCluster::with_config(label, config)
}

pub fn run_one(sim: &SimCluster, planned: Planned) -> (Outcome, String) {
    run_with(sim, sim.target(), planned)
}

/// [`run_one`] with a settings file (`vstp.toml`) of `settings`.
pub fn run_with_settings(
    sim: &SimCluster,
    planned: Planned,
    settings: Option<&str>,
) -> (Outcome, String) {
    let mut target = sim.target();
    if let Some(text) = settings {
        let path = sim.path("vstp.toml");
        std::fs::write(&path, text).expect("the settings file is written");
        target.settings = Some(path);
    }
    run_with(sim, target, planned)
}

/// Runs `planned` against `sim` reached through `target` (e.g. with a settings file).
pub fn run_with(sim: &SimCluster, target: TargetOptions, planned: Planned) -> (Outcome, String) {
    let mut config = RunConfig::new(target, true);
    config.junit_path = sim.path("junit.xml");
    config.artifacts = sim.path("artifacts");
    config.handle_signals = false;
    let args = libtest_mimic::Arguments {
        test_threads: Some(1),
        quiet: true,
        ..Default::default()
    };
    let report: RunReport = Run::new(config, vec![planned]).unwrap().execute(&args);
    let junit = std::fs::read_to_string(sim.path("junit.xml")).unwrap_or_default();
    (report.cases[0].outcome_now().0, junit)
}

/// A catalogue row run with a test body instead of its own.
pub fn with_body<F, Fut>(body: F) -> Planned
where
    F: Fn(Ctx) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    row_with_body("bridge-vlan-swap", body)
}

/// The catalogue row `slug` (its needs, its namespace kind) run with a test body instead of
/// its own.
pub fn row_with_body<F, Fut>(slug: &str, body: F) -> Planned
where
    F: Fn(Ctx) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut planned = row(slug);
    let decl = planned.scenario.decl.budget(Duration::from_secs(120));
    planned.scenario = decl.body(body);
    planned
}

/// The catalogue row `slug` as the catalogue plans it.
pub fn row(slug: &str) -> Planned {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    let all = vstp::cli::planned_or_problems(&root).unwrap_or_else(|p| panic!("{p:?}"));
    all.into_iter()
        .find(|p| p.scenario.decl.slug == slug)
        .unwrap_or_else(|| panic!("no catalogue row {slug}"))
}

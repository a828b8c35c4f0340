//! What a run needs to know besides which scenarios it runs: its ID, target, permissions and
//! where its reports go.

use std::path::PathBuf;

use crate::cluster::polarion::PolarionRun;
use crate::cluster::target::TargetOptions;

/// Everything a run needs to know besides which scenarios it runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub run_id: String,
    pub target: TargetOptions,
    /// On a cluster, disruptive scenarios run only when this is set.
    pub allow_disruptive: bool,
    /// The test-run properties for Polarion's importer (`vstp.toml` `[polarion]`).
    pub polarion: PolarionRun,
    pub junit_path: PathBuf,
    pub artifacts: PathBuf,
    /// Catch SIGINT/SIGTERM to finish teardown and write JUnit (off inside library tests).
    pub handle_signals: bool,
}

impl RunConfig {
    /// Paths per DESIGN §4: `$ARTIFACT_DIR/junit_vstp.xml` in CI, else `target/vstp/<run-id>/`.
    pub fn new(target: TargetOptions, allow_disruptive: bool) -> RunConfig {
        let run_id = new_run_id();
        let (junit_path, artifacts) =
            match std::env::var_os("ARTIFACT_DIR").filter(|d| !d.is_empty()) {
                Some(dir) => {
                    let dir = PathBuf::from(dir);
                    (dir.join("junit_vstp.xml"), dir.join("vstp").join(&run_id))
                }
                None => {
                    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
                        .map_or_else(|| PathBuf::from("target"), PathBuf::from);
                    let base = target_dir.join("vstp").join(&run_id);
                    (base.join("junit.xml"), base)
                }
            };
        RunConfig {
            run_id,
            target,
            allow_disruptive,
            polarion: PolarionRun::default(),
            junit_path,
            artifacts,
            handle_signals: true,
        }
    }
}

/// `YYYYMMDD-HHMMSS-xxxx`: sortable, unique enough per machine, valid as a label value.
pub fn new_run_id() -> String {
    let now = chrono::Local::now();
    let salt = (std::process::id() ^ now.timestamp_subsec_nanos()) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%d-%H%M%S"))
}

//! `vstp run [ID...] [--tier N] [--priority Pn] [--sig S] [--target sim|cluster] [--allow-disruptive]`

use std::time::Duration;

use super::{exit, opt, planned_or_problems, table, StpRoot};
use crate::cluster::{settings, TargetKind, TargetOptions};
use crate::runner::record::Outcome;
use crate::runner::select::{self, Selection};
use crate::runner::{Run, RunConfig, RunReport};
use crate::stp::Priority;

#[derive(clap::Args)]
pub struct Args {
    /// Requirement or Polarion IDs (VIRTSTRAT-560, CNV-15972), trial names, or trial-name
    /// prefixes (sig-network/hotpluggable-nad-ref). None = the whole catalogue.
    ids: Vec<String>,
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    tier: Option<u8>,
    #[arg(long, value_parser = parse_priority)]
    priority: Option<Priority>,
    /// sig-network, sig-virt, ...
    #[arg(long)]
    sig: Option<String>,
    #[command(flatten)]
    target: TargetOptions,
    /// Allow scenarios that drain nodes or change node networking on a real cluster.
    #[arg(long)]
    allow_disruptive: bool,
    /// Scenarios run at once. Default on the simulator: twice the cores, at least 4. Default on
    /// a cluster: as many as may overlap (a drain runs alone, node-networking scenarios one at
    /// a time), at most the live migrations KubeVirt runs at once, min(parallelMigrationsPer-
    /// Cluster, parallelOutboundMigrationsPerNode × usable workers): 5 on three workers.
    #[arg(long)]
    test_threads: Option<usize>,
    #[command(flatten)]
    root: StpRoot,
}

fn parse_priority(text: &str) -> Result<Priority, String> {
    Priority::parse(text).ok_or_else(|| format!("`{text}` is not a priority: use P0, P1, P2 or P3"))
}

pub fn main(args: &Args) -> u8 {
    let root = match args.root.resolve(args.target.settings.as_deref()) {
        Ok(root) => root,
        Err(code) => return code,
    };
    let all = match planned_or_problems(&root) {
        Ok(all) => all,
        Err(problems) => {
            for p in problems {
                eprintln!("vstp: {p}");
            }
            eprintln!("vstp: fix the catalogue first (`vstp coverage` shows it)");
            return exit::USAGE;
        }
    };
    let selection = Selection {
        ids: args.ids.clone(),
        tier: args.tier,
        priority: args.priority,
        sig: args.sig.clone(),
    };
    let chosen = match select::select(&all, &selection) {
        Ok(chosen) => chosen,
        Err(no_match) => {
            eprintln!("vstp: {no_match}");
            return exit::USAGE;
        }
    };
    let settings = match settings::load(args.target.settings.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("vstp: {e}");
            return exit::USAGE;
        }
    };
    if let Some(problem) = windows_without_image(args, &settings, &chosen) {
        eprintln!("vstp: {problem}");
        return exit::USAGE;
    }
    let mut config = RunConfig::new(args.target.clone(), args.allow_disruptive);
    config.polarion = settings.polarion;
    let (run_id, target, count) = (config.run_id.clone(), config.target.target, chosen.len());
    let run = match Run::new(config, chosen) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("vstp: cannot start the run: {e}");
            return exit::FAILED;
        }
    };
    let threads = args.test_threads.unwrap_or_else(|| run.default_threads());
    eprintln!("vstp: run {run_id} on {target} with {threads} thread(s): {count} scenario(s)");
    let mimic = libtest_mimic::Arguments {
        test_threads: Some(threads.max(1)),
        ..Default::default()
    };
    let report = run.execute(&mimic);
    print!("{}", summary(&report));
    exit_code(&report)
}

/// A Windows scenario asked for by ID on a cluster whose settings name no Windows image is a
/// mistake to point out now; in a whole-catalogue run preflight skips it with the reason.
fn windows_without_image(
    args: &Args,
    settings: &settings::Settings,
    chosen: &[crate::runner::Planned],
) -> Option<String> {
    let named = !args.ids.is_empty() && args.target.target == TargetKind::Cluster;
    let windows: Vec<String> = chosen
        .iter()
        .filter(|p| p.scenario.decl.os == crate::guest::os::GuestOs::Windows)
        .map(|p| p.scenario.decl.trial_name())
        .collect();
    (named && !windows.is_empty() && !settings.profile.windows_configured).then(|| {
        format!(
            "{} need(s) a Windows image, and {} names none: add [images] windows = {{ data_source = \"win2k22\" }} (or container_disk / pvc)",
            windows.join(", "),
            settings.source
        )
    })
}

pub fn exit_code(report: &RunReport) -> u8 {
    match report.interrupted {
        Some("SIGTERM") => 143,
        Some(_) => exit::INTERRUPTED,
        None if report.failed() => exit::FAILED,
        None => exit::OK,
    }
}

/// The table printed after a run, and where the JUnit went.
pub fn summary(report: &RunReport) -> String {
    let rows: Vec<Vec<String>> = report
        .cases
        .iter()
        .map(|case| {
            let (outcome, elapsed) = case.outcome_now();
            let (status, detail) = match outcome {
                Outcome::Passed => ("passed", String::new()),
                Outcome::Failed(m) => ("FAILED", m),
                Outcome::Skipped(m) => ("skipped", m),
                Outcome::Error(m) => ("ERROR", m),
                Outcome::Environment(m) => ("ERROR (env)", m),
            };
            let detail: String = detail
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(100)
                .collect();
            vec![
                case.planned.scenario.decl.trial_name(),
                status.into(),
                seconds(elapsed),
                opt(Some(detail), ""),
            ]
        })
        .collect();
    format!(
        "\n{}\nJUnit: {}\n",
        table(&["SCENARIO", "RESULT", "TIME", "DETAIL"], &rows),
        report.junit_path.display()
    )
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

//! The harness drives a guest on a primary user-defined network over its serial console: the
//! VMI port-forward cannot reach it (virt-api dials the isolated UDN address), so the guest
//! access layer logs in on the console and reads each command's output and exit code there.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use vstp::cluster::build::Nic;
use vstp::cluster::{setups, NamespaceKind};
use vstp::ctx::Ctx;
use vstp::guest::os::GuestOs;
use vstp::runner::{Outcome, Planned, Run, RunConfig};
use vstp::scenarios::Attach;

mod support;
use support::SimCluster;

/// Round trips measured per command.
const SAMPLES: usize = 20;

fn over_the_console(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::PrimaryUdn).await?;
        setups::primary_udn(&scope, "tenant").await?;
        let spec = ctx
            .vm("vm-a", GuestOs::Rhel)
            .await?
            .with_pod_nic(Nic::primary_udn());
        let vm = ctx.start(&scope, &spec).await?;
        let hostname = vm.guest.ok("hostname").await?;
        anyhow::ensure!(hostname.trim() == "vm-a", "hostname {hostname:?}");
        let missing = vm.guest.exec("cat /nonexistent").await?;
        anyhow::ensure!(missing.code == 1, "{missing}");
        // A tty mixes stderr into what the terminal shows.
        anyhow::ensure!(
            missing.stdout.contains("No such file or directory"),
            "{missing}"
        );
        let unknown = vm.guest.exec("frobnicate").await?;
        anyhow::ensure!(unknown.code == 127, "{unknown}");
        let lines = vm.guest.ok("echo one; echo two").await?;
        anyhow::ensure!(lines == "one\ntwo\n", "{lines:?}");
        report_round_trips(&vm.guest).await?;
        // The migration ends the console stream; the shell on the guest's tty stays logged in.
        let boot = vm.guest.boot().await?;
        vm.migrate().await?;
        let after = vm.guest.boot().await?;
        anyhow::ensure!(boot.same_as(&after), "rebooted: {boot} → {after}");
        Ok(())
    }
    .boxed()
}

/// Prints the console's round trip per command (no assertion on time).
async fn report_round_trips(guest: &vstp::guest::access::Guest) -> anyhow::Result<()> {
    let mut took = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        guest.ok("true").await?;
        took.push(started.elapsed());
    }
    took.sort();
    eprintln!(
        "console round trip over {SAMPLES} commands: min {:?}, median {:?}, max {:?}",
        took[0],
        took[SAMPLES / 2],
        took[SAMPLES - 1]
    );
    Ok(())
}

#[test]
fn a_primary_udn_guest_is_driven_over_its_console() {
    let sim = SimCluster::start("guest-console", "", 7);
    let dir = sim.path("run");
    let mut config = RunConfig::new(sim.target(), true);
    config.junit_path = dir.join("junit.xml");
    config.artifacts = dir.join("artifacts");
    config.handle_signals = false;
    let run = Run::new(config, vec![with_body(over_the_console)]).unwrap();
    let args = libtest_mimic::Arguments {
        test_threads: Some(1),
        quiet: true,
        ..Default::default()
    };
    let report = run.execute(&args);
    assert_eq!(report.cases[0].outcome_now().0, Outcome::Passed);
}

/// A catalogue row run with `body` instead of its own.
fn with_body<F, Fut>(body: F) -> Planned
where
    F: Fn(Ctx) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    let all = vstp::cli::planned_or_problems(&root).unwrap_or_else(|p| panic!("{p:?}"));
    let mut planned = all
        .into_iter()
        .find(|p| p.scenario.decl.slug == "ip-kept-across-migration")
        .expect("the catalogue's primary-UDN row");
    let decl = planned.scenario.decl.budget(Duration::from_secs(120));
    planned.scenario = decl.body(body);
    planned
}

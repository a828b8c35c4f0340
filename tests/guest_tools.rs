//! The tools the harness uses in a guest are those a RHEL 9 KVM guest image has: the memory
//! dirtier and the TCP peer need no extra package, every background process is seen running
//! before the operation it is meant to observe, and a tool the image lacks is the
//! environment's problem (a JUnit error naming it), never a failure that reads like a
//! regression. The scenarios run against a standalone simulator reached as a cluster.

use std::net::IpAddr;

use futures::future::BoxFuture;
use futures::FutureExt;
use vstp::cluster::NamespaceKind;
use vstp::ctx::Ctx;
use vstp::guest::linux::Dirtier;
use vstp::guest::os::GuestOs;
use vstp::runner::Outcome;
use vstp_sim::guest::image::GuestImage;

mod support;
use support::runs::{row, run_one, run_with_settings, with_body};
use support::SimCluster;

fn cluster(label: &str, image: GuestImage) -> SimCluster {
    let spec = vstp_sim::world::nodes::ClusterSpec {
        image,
        ..Default::default()
    };
    let config = vstp_sim::SimConfig::cluster(spec).expect("a cluster");
    SimCluster::with_config(&format!("tools-{label}-{}", std::process::id()), config)
}

/// Starts a RHEL VM and the stress-ng dirtier the harness used before: the RHEL 9 KVM guest
/// image has no stress-ng.
fn stress_ng_dirtier(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let vm = ctx.vm("vm-a", GuestOs::Rhel).await?;
        let running = ctx.start(&scope, &vm).await?;
        let pid = running
            .guest
            .start_memory_dirtier_with(Dirtier::StressNg, 350)
            .await?;
        anyhow::ensure!(running.guest.alive(pid).await?, "stress-ng is not running");
        Ok(())
    }
    .boxed()
}

#[test]
fn a_stress_ng_dirtier_on_the_default_image_is_a_junit_error_naming_stress_ng() {
    let sim = cluster("no-stress-ng", GuestImage::default());
    let (outcome, junit) = run_one(&sim, with_body(stress_ng_dirtier));
    let Outcome::Environment(message) = outcome else {
        panic!("not an environment error: {outcome:?}");
    };
    assert!(
        message.starts_with("environment problem, not a product failure")
            && message.contains("has no `stress-ng`"),
        "{message}"
    );
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(junit.contains("type=\"Environment\""), "{junit}");
}

#[test]
fn a_stress_ng_dirtier_runs_where_the_image_was_built_with_stress_ng() {
    let image = GuestImage {
        extra_packages: vec!["stress-ng".into()],
        repository: false,
    };
    let sim = cluster("stress-ng", image);
    let (outcome, _) = run_one(&sim, with_body(stress_ng_dirtier));
    assert_eq!(outcome, Outcome::Passed);
}

/// The AWD row as a QE engineer with the old habit would configure it: stress-ng as the
/// dirtier, on an image without it. `nohup stress-ng … & echo $!` would print a PID all the
/// same; the run must say the image lacks stress-ng, not that the migration ran in PreCopy.
#[test]
fn the_awd_row_configured_with_stress_ng_on_an_image_without_it_is_an_environment_error() {
    let sim = cluster("awd-stress-ng", GuestImage::default());
    let settings = "[guest]\nrhel_memory_dirtier = \"stress-ng\"\n";
    let (outcome, junit) = run_with_settings(&sim, row("rhel-paused"), Some(settings));
    let Outcome::Environment(message) = outcome else {
        panic!("not an environment error: {outcome:?}");
    };
    assert!(message.contains("has no `stress-ng`"), "{message}");
    assert!(!junit.contains("<failure"), "{junit}");
}

/// The AWD row with the dirtier a settings file names instead of the default one.
#[test]
fn the_awd_row_passes_with_the_dd_dirtier_named_in_settings() {
    let sim = cluster("awd-dd", GuestImage::default());
    let settings = "[guest]\nrhel_memory_dirtier = \"dd\"\n";
    let (outcome, junit) = run_with_settings(&sim, row("rhel-paused"), Some(settings));
    assert_eq!(outcome, Outcome::Passed, "{junit}");
}

/// The default dirtier, a listener, a client holding a connection to it, and a client whose
/// connection is refused: that one must be caught when it starts, not later.
fn tcp_peers(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let vm = ctx.vm("vm-a", GuestOs::Rhel).await?;
        let running = ctx.start(&scope, &vm).await?;
        let guest = &running.guest;
        let dirtier = guest.start_memory_dirtier(350).await?;
        anyhow::ensure!(guest.alive(dirtier).await?, "the dirtier is not running");
        let local = IpAddr::from([127, 0, 0, 1]);
        guest.listen(9000).await?;
        guest.hold_connection(local, 9000).await?;
        guest.connection_to(local, 9000).await?;
        anyhow::ensure!(!guest.accepts(local, 9001).await?, "9001 accepts");
        let Err(refused) = guest.hold_connection(local, 9001).await else {
            anyhow::bail!("a client whose connection was refused started");
        };
        let message = format!("{refused:#}");
        anyhow::ensure!(
            message.contains("the TCP client of 127.0.0.1:9001")
                && message.contains("is not running"),
            "{message}"
        );
        Ok(())
    }
    .boxed()
}

#[test]
fn the_default_image_runs_the_dirtier_and_tcp_peers_and_a_refused_client_is_caught() {
    let sim = cluster("tcp", GuestImage::default());
    let (outcome, _) = run_one(&sim, with_body(tcp_peers));
    assert_eq!(outcome, Outcome::Passed);
}

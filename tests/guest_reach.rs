//! Reaching a guest as real ones behave: sshd starts a while after the guest agent connects,
//! keys given through the agent land later still, and a guest that never lets the harness in
//! is the environment's problem, reported as a JUnit error that says so, never as a failure.
//! The scenarios run against a standalone simulator reached as a cluster.

use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use vstp::cluster::target::TargetOptions;
use vstp::cluster::NamespaceKind;
use vstp::ctx::Ctx;
use vstp::guest::os::GuestOs;
use vstp::runner::{Outcome, Planned, Run, RunConfig, RunReport};
use vstp::scenarios::Attach;

mod support;
use support::SimCluster;

/// Modelled seconds per real second where a test must surely knock before sshd is up: the
/// 5 modelled seconds between the agent and sshd are 0.8 s here.
const SLOW: f64 = 6.0;

fn cluster(label: &str, time_scale: f64) -> SimCluster {
    let mut config = vstp_sim::SimConfig::cluster(Default::default()).expect("a cluster");
    config.time_scale = time_scale;
    SimCluster::with_config(&format!("reach-{label}-{}", std::process::id()), config)
}

fn run_one(sim: &SimCluster, planned: Planned) -> (Outcome, String) {
    run_with(sim, sim.target(), planned)
}

/// Runs `planned` against `sim` reached through `target` (e.g. with a settings file).
fn run_with(sim: &SimCluster, target: TargetOptions, planned: Planned) -> (Outcome, String) {
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
fn with_body<F, Fut>(body: F) -> Planned
where
    F: Fn(Ctx) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    let all = vstp::cli::planned_or_problems(&root).unwrap_or_else(|p| panic!("{p:?}"));
    let mut planned = all
        .into_iter()
        .find(|p| p.scenario.decl.slug == "bridge-vlan-swap")
        .expect("the bridge-vlan-swap row");
    let decl = planned.scenario.decl.budget(Duration::from_secs(120));
    planned.scenario = decl.body(body);
    planned
}

/// The transcript lines of the harness's login attempts.
fn logins(transcript: &[String]) -> String {
    transcript
        .iter()
        .filter(|t| t.starts_with("$ (login)"))
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts `os`'s VM; the first command right after the start must work, and the logins must
/// show `refusal` before the one that got in.
async fn first_command_works(ctx: Ctx, os: GuestOs, refusal: &'static str) -> anyhow::Result<()> {
    let scope = ctx.scope(NamespaceKind::Plain).await?;
    let vm = ctx.vm("vm-a", os).await?;
    let running = ctx.start(&scope, &vm).await?;
    let command = match os {
        GuestOs::Rhel => "true",
        GuestOs::Windows => "$env:NUMBER_OF_PROCESSORS",
    };
    running.guest.ok(command).await?;
    let logins = logins(&running.guest.transcript());
    anyhow::ensure!(
        logins.contains(refusal) && logins.contains("logged in at attempt"),
        "no `{refusal}` before the login in:\n{logins}"
    );
    Ok(())
}

fn refused_dial(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    first_command_works(ctx, GuestOs::Rhel, "connect: connection refused").boxed()
}

#[test]
fn a_guest_whose_sshd_refuses_for_a_while_is_reached_once_it_listens() {
    let sim = cluster("refused", SLOW);
    let (outcome, _) = run_one(&sim, with_body(refused_dial));
    assert_eq!(outcome, Outcome::Passed);
}

fn late_key(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    first_command_works(ctx, GuestOs::Windows, "was refused for user Administrator").boxed()
}

#[test]
fn a_guest_whose_key_arrives_late_is_reached_once_it_lands() {
    let sim = cluster("late-key", SLOW);
    let (outcome, _) = run_one(&sim, with_body(late_key));
    assert_eq!(outcome, Outcome::Passed);
}

/// A VM given a key the harness does not hold: no login ever succeeds.
fn never_reached(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let other = include_str!("../fixtures/ssh/other_ed25519.pub");
        let vm = ctx
            .vm("vm-a", GuestOs::Rhel)
            .await?
            .with_login("cloud-user", other);
        ctx.start(&scope, &vm).await?;
        anyhow::bail!("the guest was reached with a key it was never given")
    }
    .boxed()
}

#[test]
fn a_guest_never_reached_is_a_junit_error_naming_the_environment() {
    let sim = cluster("unreachable", vstp_sim::DEFAULT_TIME_SCALE);
    let (outcome, junit) = run_one(&sim, with_body(never_reached));
    let Outcome::Environment(message) = outcome else {
        panic!("not an environment error: {outcome:?}");
    };
    assert!(
        message.starts_with("environment problem, not a product failure: the guest")
            && message.contains("did not accept an SSH login within the Boot budget")
            && message.contains("last error: SSH to")
            && message.contains("was refused for user cloud-user"),
        "{message}"
    );
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(
        junit.contains("<error") && junit.contains("type=\"Environment\""),
        "{junit}"
    );
}

fn missing_tool(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let vm = ctx.vm("vm-a", GuestOs::Rhel).await?;
        let running = ctx.start(&scope, &vm).await?;
        running.guest.ok("frobnicate --now").await?;
        Ok(())
    }
    .boxed()
}

#[test]
fn a_tool_missing_in_the_guest_is_a_junit_error_naming_it() {
    let sim = cluster("missing-tool", vstp_sim::DEFAULT_TIME_SCALE);
    let (outcome, junit) = run_one(&sim, with_body(missing_tool));
    let Outcome::Environment(message) = outcome else {
        panic!("not an environment error: {outcome:?}");
    };
    assert!(message.contains("has no `frobnicate`"), "{message}");
    assert!(!junit.contains("<failure"), "{junit}");
}

/// `sim` reached with settings that give the Windows image's password as `password`.
fn with_windows_password(sim: &SimCluster, password: &str) -> TargetOptions {
    let file = sim.path("vstp.toml");
    std::fs::write(&file, format!("[guest]\nwindows_password = {password:?}\n")).unwrap();
    TargetOptions {
        settings: Some(file),
        ..sim.target()
    }
}

/// A Windows VM whose accessCredentials key is not the harness's: only the image's password
/// lets the harness in (the downstream suite gives Windows VMs no key at all).
fn windows_by_password(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let other = include_str!("../fixtures/ssh/other_ed25519.pub");
        let vm = ctx
            .vm("vm-a", GuestOs::Windows)
            .await?
            .with_login("Administrator", other);
        let running = ctx.start(&scope, &vm).await?;
        let cpus = running.guest.ok("$env:NUMBER_OF_PROCESSORS").await?;
        anyhow::ensure!(cpus.trim() == "2", "NUMBER_OF_PROCESSORS answered {cpus:?}");
        Ok(())
    }
    .boxed()
}

#[test]
fn a_windows_guest_is_logged_in_with_the_image_password_from_the_settings() {
    let sim = cluster("win-password", vstp_sim::DEFAULT_TIME_SCALE);
    let password = vstp_sim::guest::distro::WINDOWS_IMAGE_PASSWORD;
    let target = with_windows_password(&sim, password);
    let (outcome, junit) = run_with(&sim, target, with_body(windows_by_password));
    assert_eq!(outcome, Outcome::Passed, "{junit}");
}

#[test]
fn a_wrong_windows_password_is_a_junit_error_naming_the_setting() {
    let sim = cluster("win-wrong-password", vstp_sim::DEFAULT_TIME_SCALE);
    let target = with_windows_password(&sim, "not-the-image-password");
    let (outcome, junit) = run_with(&sim, target, with_body(windows_by_password));
    let Outcome::Environment(message) = outcome else {
        panic!("not an environment error: {outcome:?}");
    };
    assert!(
        message.starts_with("environment problem, not a product failure: the guest")
            && message.contains("refused the login")
            && message.contains("the password was refused for user Administrator")
            && message.contains("guest.windows_password"),
        "{message}"
    );
    assert!(!message.contains("not-the-image-password"), "{message}");
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(junit.contains("type=\"Environment\""), "{junit}");
}

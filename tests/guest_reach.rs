//! Reaching a guest as real ones behave: sshd starts a while after the guest agent connects,
//! keys given through the agent land later still, and a guest that never lets the harness in
//! is the environment's problem, reported as a JUnit error that says so, never as a failure.
//! The scenarios run against a standalone simulator reached as a cluster.

use futures::future::BoxFuture;
use futures::FutureExt;
use vstp::cluster::NamespaceKind;
use vstp::ctx::Ctx;
use vstp::guest::os::GuestOs;
use vstp::runner::Outcome;

mod support;
use support::bodies::{run_one, with_body};
use support::SimCluster;

/// Modelled seconds per real second where a test must surely knock before sshd is up: the
/// 5 modelled seconds between the agent and sshd are 0.8 s here.
const SLOW: f64 = 6.0;

fn cluster(label: &str, time_scale: f64) -> SimCluster {
    let mut config = vstp_sim::SimConfig::cluster(Default::default()).expect("a cluster");
    config.time_scale = time_scale;
    SimCluster::with_config(&format!("reach-{label}-{}", std::process::id()), config)
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

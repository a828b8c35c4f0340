//! Windows as the downstream suite drives it: logged in to with the image's password from the
//! settings, and built from a Windows cluster preference named in the settings (Hyper-V
//! enlightenments, timers, EFI/TPM). A wrong password or a preference the cluster lacks is
//! the environment's problem, reported as a JUnit error that names the setting.

use futures::future::BoxFuture;
use futures::FutureExt;
use vstp::cluster::{NamespaceKind, TargetOptions};
use vstp::ctx::Ctx;
use vstp::guest::os::GuestOs;
use vstp::runner::Outcome;

mod support;
use support::runs::{cluster, row, run_with, with_body};
use support::SimCluster;

/// `sim` reached with the `[guest]` settings `lines`.
fn with_guest_settings(sim: &SimCluster, lines: &str) -> TargetOptions {
    let file = sim.path("vstp.toml");
    std::fs::write(&file, format!("[guest]\n{lines}\n")).unwrap();
    TargetOptions {
        settings: Some(file),
        ..sim.target()
    }
}

fn with_windows_password(sim: &SimCluster, password: &str) -> TargetOptions {
    with_guest_settings(sim, &format!("windows_password = {password:?}"))
}

/// The JUnit error of an environment problem, asserting it is no failure.
fn environment_error(outcome: Outcome, junit: &str) -> String {
    let Outcome::Environment(message) = outcome else {
        panic!("not an environment error: {outcome:?}");
    };
    assert!(
        message.starts_with("environment problem, not a product failure:"),
        "{message}"
    );
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(junit.contains("type=\"Environment\""), "{junit}");
    message
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
        let charged = scope.waits().describe();
        anyhow::ensure!(
            charged.starts_with("WindowsBoot "),
            "the Windows boot was given the budget of {charged}"
        );
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
    let message = environment_error(outcome, &junit);
    assert!(
        message.contains("refused the login")
            && message.contains("the password was refused for user Administrator")
            && message.contains("guest.windows_password"),
        "{message}"
    );
    assert!(!message.contains("not-the-image-password"), "{message}");
}

/// The object `kind`/`plural` (kubevirt.io/v1) `name` in `ns`, as JSON.
async fn read(ctx: &Ctx, ns: &str, kind: &str, plural: &str, name: &str) -> serde_json::Value {
    let gvk = kube::api::GroupVersionKind::gvk("kubevirt.io", "v1", kind);
    let resource = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
    let client = ctx.client().await.expect("the target's client");
    let api = kube::Api::<kube::api::DynamicObject>::namespaced_with(client, ns, &resource);
    serde_json::to_value(api.get(name).await.expect("the object")).unwrap()
}

/// A Windows VM as the scenarios build it: with the settings' preference, KubeVirt gives its
/// VMI the preference's Hyper-V enlightenments, timers and firmware, and the guest answers.
fn windows_from_preference(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let vm = ctx.vm("vm-a", GuestOs::Windows).await?;
        let running = ctx.start(&scope, &vm).await?;
        running.guest.ok("$env:NUMBER_OF_PROCESSORS").await?;
        let object = read(
            &ctx,
            scope.ns(),
            "VirtualMachine",
            "virtualmachines",
            "vm-a",
        )
        .await;
        anyhow::ensure!(
            object["spec"]["preference"]["name"] == "windows.2k22",
            "the VM names no preference: {}",
            object["spec"]
        );
        let vmi = read(
            &ctx,
            scope.ns(),
            "VirtualMachineInstance",
            "virtualmachineinstances",
            "vm-a",
        )
        .await;
        let domain = &vmi["spec"]["domain"];
        anyhow::ensure!(
            domain["features"]["hyperv"]["relaxed"].is_object()
                && domain["clock"]["timer"]["hpet"]["present"] == false
                && domain["firmware"]["bootloader"]["efi"]["secureBoot"] == true
                && domain["devices"]["tpm"].is_object(),
            "the VMI lacks the preference's features: {domain}"
        );
        Ok(())
    }
    .boxed()
}

#[test]
fn a_windows_vm_is_built_from_the_preference_named_in_the_settings() {
    let sim = cluster("win-preference", vstp_sim::DEFAULT_TIME_SCALE);
    let target = with_guest_settings(&sim, "windows_preference = \"windows.2k22\"");
    let (outcome, junit) = run_with(&sim, target, with_body(windows_from_preference));
    assert_eq!(outcome, Outcome::Passed, "{junit}");
}

#[test]
fn a_windows_preference_the_cluster_lacks_is_a_junit_error_naming_the_setting() {
    let sim = cluster("win-no-preference", vstp_sim::DEFAULT_TIME_SCALE);
    let target = with_guest_settings(&sim, "windows_preference = \"windows.2k99\"");
    let (outcome, junit) = run_with(&sim, target, with_body(windows_from_preference));
    let message = environment_error(outcome, &junit);
    assert!(
        message.contains("names the cluster preference \"windows.2k99\"")
            && message.contains("\"windows.2k99\" not found")
            && message.contains("guest.windows_preference"),
        "{message}"
    );
}

/// Preflight looks the preference up: the Windows rows are skipped with the reason, not run
/// into a VM that would never start.
#[test]
fn windows_rows_are_skipped_when_the_named_preference_does_not_exist() {
    let sim = cluster("win-preflight", vstp_sim::DEFAULT_TIME_SCALE);
    let target = with_guest_settings(&sim, "windows_preference = \"windows.2k99\"");
    let (outcome, junit) = run_with(&sim, target, row("windows-paused"));
    let Outcome::Skipped(reason) = outcome else {
        panic!("not skipped: {outcome:?}\n{junit}");
    };
    assert!(
        reason.contains("the cluster preference \"windows.2k99\" named by guest.windows_preference does not exist"),
        "{reason}"
    );
}

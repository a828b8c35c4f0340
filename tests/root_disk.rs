//! Booting from a DataSource image against the simulator: the VM's root disk is a DataVolume
//! of its `dataVolumeTemplates`, and the boot waits (by a watch) for its clone before the VMI;
//! a clone that cannot start fails the boot naming where the DataVolume stood.

use futures::future::BoxFuture;
use futures::FutureExt;
use vstp::cluster::build::vm::Image;
use vstp::cluster::kinds::{to_value, DATA_SOURCE, DATA_VOLUME};
use vstp::cluster::scope::NamespaceKind;
use vstp::ctx::Ctx;
use vstp::guest::os::GuestOs;
use vstp::runner::Outcome;

mod support;
use support::runs::{run_with_settings, with_body};
use support::SimCluster;

const IMAGES: &str = "openshift-virtualization-os-images";
const FROM_DATA_SOURCE: &str = "[images]\nrhel = { data_source = \"rhel9\" }\n";

fn cluster(label: &str) -> SimCluster {
    let config = vstp_sim::SimConfig::cluster(Default::default()).expect("a cluster");
    SimCluster::with_config(&format!("root-disk-{label}-{}", std::process::id()), config)
}

/// Boots vm-a from the profile's image and checks that its root disk was cloned.
fn boots_from_the_image(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let scope = ctx.scope(NamespaceKind::Plain).await?;
        let spec = ctx.vm("vm-a", GuestOs::Rhel).await?;
        anyhow::ensure!(
            matches!(spec.image, Image::DataSource { .. }),
            "{:?}",
            spec.image
        );
        ctx.start(&scope, &spec).await?;
        let dv = DATA_VOLUME
            .api(scope.client(), scope.ns())
            .get("vm-a-rootdisk")
            .await?;
        let dv = to_value(&dv);
        anyhow::ensure!(dv["status"]["phase"] == "Succeeded", "{dv}");
        anyhow::ensure!(dv["status"]["progress"] == "100.0%", "{dv}");
        Ok(())
    }
    .boxed()
}

/// Boots vm-a from DataSource `name` of the images namespace.
async fn boot_from(ctx: Ctx, name: &str) -> anyhow::Result<()> {
    let scope = ctx.scope(NamespaceKind::Plain).await?;
    let mut spec = ctx.vm("vm-a", GuestOs::Rhel).await?;
    spec.image = Image::DataSource {
        name: name.into(),
        namespace: IMAGES.into(),
        size: "30Gi".into(),
        storage_class: None,
    };
    ctx.start(&scope, &spec).await?;
    Ok(())
}

/// Boots vm-a from DataSource `nosuch`, which does not exist.
fn boots_from_a_missing_data_source(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    boot_from(ctx, "nosuch").boxed()
}

/// Boots vm-a from DataSource `fedora`, whose PVC does not exist.
fn boots_from_an_image_without_source(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        let client = ctx.client().await?;
        let ds = serde_json::json!({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataSource",
            "metadata": {"name": "fedora", "namespace": IMAGES},
            "spec": {"source": {"pvc": {"name": "fedora-disk", "namespace": IMAGES}}}});
        let api = DATA_SOURCE.api(&client, IMAGES);
        api.create(&Default::default(), &serde_json::from_value(ds)?)
            .await?;
        boot_from(ctx, "fedora").await
    }
    .boxed()
}

#[test]
fn a_vm_from_a_data_source_boots_once_its_root_disk_is_cloned() {
    let sim = cluster("cloned");
    let planned = with_body(boots_from_the_image);
    let (outcome, junit) = run_with_settings(&sim, planned, Some(FROM_DATA_SOURCE));
    assert!(matches!(outcome, Outcome::Passed), "{outcome:?}\n{junit}");
}

#[test]
fn a_clone_without_its_source_fails_the_boot_with_where_it_stood() {
    let sim = cluster("no-source");
    let planned = with_body(boots_from_an_image_without_source);
    let (outcome, junit) = run_with_settings(&sim, planned, Some(FROM_DATA_SOURCE));
    let message = match &outcome {
        Outcome::Failed(m) | Outcome::Error(m) => m.clone(),
        other => panic!("not a failure: {other:?}\n{junit}"),
    };
    for expected in [
        "root disk vm-a-rootdisk was not cloned",
        "DataVolume phase Succeeded",
        "Ready=False(CloneWithoutSource)",
        "The source pvc fedora-disk doesn't exist",
    ] {
        assert!(message.contains(expected), "{expected:?} not in {message}");
    }
}

#[test]
fn a_missing_data_source_fails_the_boot_with_the_vms_failure() {
    let sim = cluster("no-data-source");
    let planned = with_body(boots_from_a_missing_data_source);
    let (outcome, junit) = run_with_settings(&sim, planned, Some(FROM_DATA_SOURCE));
    let message = match &outcome {
        Outcome::Failed(m) | Outcome::Error(m) => m.clone(),
        other => panic!("not a failure: {other:?}\n{junit}"),
    };
    let expected = "root disk vm-a-rootdisk was not cloned (VM vm-a Failure (FailedCreate): Error encountered while creating DataVolumes: unable to create DataVolume manifest: datasources.cdi.kubevirt.io \"nosuch\" not found)";
    assert!(message.contains(expected), "{message}");
}

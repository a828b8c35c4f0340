//! Preflight against simulators that lack something a nightly needs: each unmet need skips
//! exactly the catalogue rows that need it, with the reason in JUnit.

use std::collections::BTreeSet;

use vstp::cluster::build::vm::Image;
use vstp::cluster::preflight;
use vstp::cluster::profile::Profile;
use vstp::plan::{Declaration, Feature};
use vstp::runner::Outcome;

mod support;
use support::runs::{row, run_with};
use support::SimCluster;

/// A simulated cluster whose token lacks the permissions `denied` (VERB:RESOURCE[.GROUP],...).
fn denying(label: &str, denied: &str) -> SimCluster {
    let mut config = vstp_sim::SimConfig::cluster(Default::default()).expect("a cluster");
    config.role = vstp_sim::access::Role::denying(denied).expect("a role");
    SimCluster::with_config(&format!("preflight-{label}-{}", std::process::id()), config)
}

/// The catalogue rows that declare `feature`.
fn rows_with(feature: Feature) -> BTreeSet<String> {
    rows(|d| d.needs.features.contains(&feature))
}

/// The slugs of the catalogue rows whose declaration passes `filter`.
fn rows(filter: impl Fn(&Declaration) -> bool) -> BTreeSet<String> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    vstp::cli::planned_or_problems(&root)
        .unwrap()
        .iter()
        .filter(|p| filter(&p.scenario.decl))
        .map(|p| p.scenario.decl.slug.to_string())
        .collect()
}

/// The catalogue rows preflight skips on `sim`, each with its reason.
fn skipped(sim: &SimCluster) -> Vec<(String, String)> {
    skipped_with(sim, &Profile::default())
}

fn skipped_with(sim: &SimCluster, profile: &Profile) -> Vec<(String, String)> {
    let client = sim.client();
    let findings = sim.runtime.block_on(preflight::run(&client, profile, true));
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    let all = vstp::cli::planned_or_problems(&root).unwrap_or_else(|p| panic!("{p:?}"));
    all.iter()
        .filter_map(|p| {
            let decl = &p.scenario.decl;
            let reason = findings.skip_reason(&decl.needs, decl.os)?;
            Some((decl.slug.to_string(), reason))
        })
        .collect()
}

fn slugs(skips: &[(String, String)]) -> BTreeSet<&str> {
    skips.iter().map(|(slug, _)| slug.as_str()).collect()
}

/// Refused NNCP creation: every bridge row (the ones that put a bridge on the nodes) is
/// skipped with the refusal, no other row is.
#[test]
fn a_refused_permission_skips_exactly_the_rows_that_use_it() {
    let sim = denying("nncp", "create:nodenetworkconfigurationpolicies.nmstate.io");
    let skips = skipped(&sim);
    let bridge_rows = rows(|d| d.needs.secondary_nics > 0);
    assert!(!bridge_rows.is_empty());
    let expected: BTreeSet<&str> = bridge_rows.iter().map(String::as_str).collect();
    assert_eq!(slugs(&skips), expected);
    for (slug, reason) in &skips {
        assert!(
            reason.contains("may not create nodenetworkconfigurationpolicies.nmstate.io"),
            "{slug}: {reason}"
        );
    }
}

/// Refused evictions: only the drain row is skipped.
#[test]
fn refused_evictions_skip_only_the_drain_row() {
    let sim = denying("evict", "create:pods/eviction");
    let skips = skipped(&sim);
    assert_eq!(slugs(&skips), BTreeSet::from(["rhel-drain"]), "{skips:?}");
    assert!(
        skips[0].1.contains("may not create pods/eviction"),
        "{skips:?}"
    );
}

/// The refusal reaches JUnit as the skip's message.
#[test]
fn a_refused_row_is_a_junit_skip_with_the_refusal() {
    let sim = denying(
        "junit",
        "create:network-attachment-definitions.k8s.cni.cncf.io",
    );
    let (outcome, junit) = run_with(&sim, sim.target(), row("bridge-vlan-swap"));
    let Outcome::Skipped(reason) = outcome else {
        panic!("not skipped: {outcome:?}\n{junit}");
    };
    let refusal = "may not create network-attachment-definitions.k8s.cni.cncf.io";
    assert!(reason.contains(refusal), "{reason}");
    assert!(
        junit.contains("<skipped") && junit.contains(refusal),
        "{junit}"
    );
}

/// The bridge NIC set to the br-ex uplink (eth0 carries the cluster network on every
/// simulated worker): no node may give it to a bridge, so exactly the rows that build one
/// are skipped, each naming every node and what its NIC is.
#[test]
fn a_bridge_nic_that_is_the_br_ex_uplink_is_refused_naming_each_node_and_the_nic() {
    let sim = denying("uplink", "");
    let profile = Profile {
        bridge_nic: "eth0".into(),
        ..Profile::default()
    };
    let skips = skipped_with(&sim, &profile);
    let bridge_rows = rows(|d| d.needs.secondary_nics > 0);
    let expected: BTreeSet<&str> = bridge_rows.iter().map(String::as_str).collect();
    assert!(!expected.is_empty());
    assert_eq!(slugs(&skips), expected);
    for (slug, reason) in &skips {
        for node in ["worker-0", "worker-1", "worker-2", "worker-4", "worker-5"] {
            let named = format!("{node}: NIC eth0 is the br-ex uplink");
            assert!(reason.contains(&named), "{slug}: {named:?} not in {reason}");
        }
        assert!(
            reason.contains("needs 2 usable node(s), found 0"),
            "{slug}: {reason}"
        );
    }
}

/// Without a default StorageClass (and no storage.class), the rows that create a
/// ReadWriteOnce claim are skipped, and only those.
#[test]
fn without_a_default_class_only_the_claim_rows_are_skipped() {
    let sim = denying("no-default-class", "");
    let client = sim.client();
    sim.runtime.block_on(async {
        let api = vstp::cluster::kinds::STORAGE_CLASS.api(&client, "");
        let patch = serde_json::json!({"metadata": {"annotations": {
            "storageclass.kubernetes.io/is-default-class": null}}});
        let params = kube::api::PatchParams::default();
        api.patch(
            "ocs-storagecluster-ceph-rbd",
            &params,
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    });
    let skips = skipped(&sim);
    let claim_rows = rows_with(Feature::NonMigratableStorage);
    let expected: BTreeSet<&str> = claim_rows.iter().map(String::as_str).collect();
    assert!(!expected.is_empty());
    assert_eq!(slugs(&skips), expected);
    for (slug, reason) in &skips {
        assert!(
            reason.contains("no StorageClass is annotated"),
            "{slug}: {reason}"
        );
    }
}

/// A DataSource RHEL image on a class without ReadWriteMany block (CephFS): every RHEL row is
/// skipped, the Windows rows (containerdisk) are not.
#[test]
fn a_data_source_image_on_a_class_without_rwx_block_skips_its_rows() {
    let sim = denying("cephfs", "");
    let profile = Profile {
        rhel_image: Image::DataSource {
            name: "rhel9".into(),
            namespace: "openshift-virtualization-os-images".into(),
            size: "30Gi".into(),
            storage_class: Some("ocs-storagecluster-cephfs".into()),
        },
        ..Profile::default()
    };
    let skips = skipped_with(&sim, &profile);
    let rhel = rows(|d| d.os == vstp::guest::os::GuestOs::Rhel);
    let expected: BTreeSet<&str> = rhel.iter().map(String::as_str).collect();
    assert_eq!(slugs(&skips), expected);
    assert!(skips[0].1.contains("no ReadWriteMany Block"), "{skips:?}");
    let on_rbd = Profile {
        rhel_image: Image::DataSource {
            name: "rhel9".into(),
            namespace: "openshift-virtualization-os-images".into(),
            size: "30Gi".into(),
            storage_class: None,
        },
        ..Profile::default()
    };
    assert_eq!(skipped_with(&sim, &on_rbd), vec![]);
}

/// A RHEL DataSource that has no source (never imported): every RHEL row is skipped as
/// "image not imported", not left to time out waiting for a boot.
#[test]
fn a_data_source_without_a_source_skips_its_rows_as_not_imported() {
    let sim = denying("not-imported", "");
    let client = sim.client();
    let ns = "openshift-virtualization-os-images";
    sim.runtime.block_on(async {
        let ds = serde_json::json!({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataSource",
            "metadata": {"name": "fedora", "namespace": ns}, "spec": {"source": {}}});
        let api = vstp::cluster::kinds::DATA_SOURCE.api(&client, ns);
        let ds = serde_json::from_value(ds).unwrap();
        api.create(&Default::default(), &ds).await.unwrap();
        let no_source = |d: &kube::api::DynamicObject| {
            let d = vstp::cluster::kinds::to_value(d);
            d["status"]["conditions"][0]["reason"] == "NoSource"
        };
        kube::runtime::wait::await_condition(api, "fedora", move |d: Option<&_>| {
            d.is_some_and(no_source)
        })
        .await
        .unwrap();
    });
    let profile = Profile {
        rhel_image: Image::DataSource {
            name: "fedora".into(),
            namespace: ns.into(),
            size: "30Gi".into(),
            storage_class: None,
        },
        ..Profile::default()
    };
    let skips = skipped_with(&sim, &profile);
    let rhel = rows(|d| d.os == vstp::guest::os::GuestOs::Rhel);
    let expected: BTreeSet<&str> = rhel.iter().map(String::as_str).collect();
    assert_eq!(slugs(&skips), expected);
    for (slug, reason) in &skips {
        assert!(
            reason.contains("image not imported: DataSource openshift-virtualization-os-images/fedora is not Ready (NoSource: No source PVC set)"),
            "{slug}: {reason}"
        );
    }
}

/// KubeVirt v1.8 without LiveUpdateNADRef under the HyperConverged operator: the NAD-swap rows
/// are skipped with the annotation to set on the HyperConverged CR; once that exact patch is
/// set, the simulator's HCO renders the gate into the KubeVirt CR and nothing is skipped.
#[test]
fn a_missing_nad_ref_gate_under_hco_names_the_hyperconverged_patch_that_enables_it() {
    use kube::api::{Patch, PatchParams};
    use vstp::cluster::kinds::{to_value, HYPERCONVERGED, KUBEVIRT};

    let sim = denying("nad-gate", "");
    let client = sim.client();
    let kubevirt = KUBEVIRT.api(&client, "openshift-cnv");
    sim.runtime.block_on(async {
        let status = serde_json::json!({"status": {"observedKubeVirtVersion": "v1.8.2"}});
        let params = PatchParams::default();
        let cr = "kubevirt-kubevirt-hyperconverged";
        kubevirt
            .patch_status(cr, &params, &Patch::Merge(&status))
            .await
            .unwrap();
    });
    let skips = skipped(&sim);
    let nad_rows = rows_with(Feature::LiveUpdateNadRef);
    let expected: BTreeSet<&str> = nad_rows.iter().map(String::as_str).collect();
    assert!(!expected.is_empty());
    assert_eq!(slugs(&skips), expected);
    let reason = &skips[0].1;
    let command = "kubectl annotate --overwrite -n openshift-cnv hyperconverged kubevirt-hyperconverged kubevirt.kubevirt.io/jsonpatch='";
    let patch = reason
        .split_once(command)
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(patch, _)| patch.to_string())
        .unwrap_or_else(|| panic!("no annotate command in {reason}"));

    sim.runtime.block_on(async {
        let hco = HYPERCONVERGED.api(&client, "openshift-cnv");
        let annotation = serde_json::json!({"metadata": {"annotations": {
            "kubevirt.kubevirt.io/jsonpatch": patch}}});
        let params = PatchParams::default();
        hco.patch(
            "kubevirt-hyperconverged",
            &params,
            &Patch::Merge(&annotation),
        )
        .await
        .unwrap();
        let gated = |kv: Option<&kube::api::DynamicObject>| {
            kv.is_some_and(|kv| {
                let kv = to_value(kv);
                let gates = &kv["spec"]["configuration"]["developerConfiguration"]["featureGates"];
                gates
                    .as_array()
                    .is_some_and(|g| g.iter().any(|g| g == "LiveUpdateNADRef"))
            })
        };
        let cr = "kubevirt-kubevirt-hyperconverged";
        let rendered = kube::runtime::wait::await_condition(kubevirt, cr, gated);
        tokio::time::timeout(std::time::Duration::from_secs(30), rendered)
            .await
            .expect("HCO rendered the gate within 30 s")
            .unwrap();
    });
    assert_eq!(skipped(&sim), vec![]);
}

/// The default parallelism on a cluster comes from what preflight found: the simulator's
/// default cluster has five usable workers (its infra and NotReady nodes are left out; the
/// worker without spare NICs and the one whose spare NICs are taken still run VMs) and
/// KubeVirt's default migration limits, so the catalogue runs min(5, 2 × 5) = 5 at a time; a CR that admits two migrations at once brings it to two.
#[test]
fn the_default_parallelism_follows_usable_workers_and_kubevirts_migration_limits() {
    let sim = SimCluster::start("preflight-parallel", "", 1);
    let client = sim.client();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stps");
    let all = vstp::cli::planned_or_problems(&root).unwrap_or_else(|p| panic!("{p:?}"));
    let runnable: Vec<Declaration> = all.iter().map(|p| p.scenario.decl).collect();
    let threads = || {
        let findings = sim
            .runtime
            .block_on(preflight::run(&client, &Profile::default(), true));
        assert_eq!(findings.limits.usable_workers, 5, "{:?}", findings.report);
        vstp::runner::parallel::cluster_threads(&findings.limits, &runnable)
    };
    assert_eq!(threads(), 5);
    let patch = serde_json::json!({"spec": {"configuration": {"migrations": {
        "parallelMigrationsPerCluster": 2}}}});
    let kubevirts = vstp::cluster::kinds::KUBEVIRT.api(&client, "openshift-cnv");
    sim.runtime
        .block_on(kubevirts.patch(
            "kubevirt-kubevirt-hyperconverged",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        ))
        .expect("the KubeVirt CR patched");
    assert_eq!(threads(), 2);
}

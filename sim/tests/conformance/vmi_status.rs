//! What KubeVirt's controllers write into VM and VMI status: condition texts, and the
//! `omitempty` fields a Go client never serialises as false.

use futures::{StreamExt, TryStreamExt};
use kube::api::{PostParams, WatchEvent, WatchParams};

use super::*;

/// kubevirt/kubevirt v1.9.0: pkg/virt-handler/vm.go `calculateLiveMigrationCondition` takes
/// the message of pkg/network/vmispec/interface.go `VerifyVMIMigratable` for a pod network
/// bound with bridge and without kubevirt.io/allow-pod-bridge-network-live-migration.
#[tokio::test]
async fn a_bridged_pod_network_is_not_live_migratable_with_upstreams_message() {
    let (_sim, client) = cluster().await;
    let bridged =
        json!({"domain": {"devices": {"interfaces": [{"name": "default", "bridge": {}}]}}});
    let vmi = boot(&client, "a", bridged).await;
    let c = condition(&vmi, "LiveMigratable").unwrap();
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str(), c["message"].as_str()),
        (
            Some("False"),
            Some("InterfaceNotLiveMigratable"),
            Some("cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network")
        ),
        "{c}"
    );
}

/// kubevirt/kubevirt v1.9.0 staging/src/kubevirt.io/api/core/v1/types.go: VirtualMachineStatus
/// `created,omitempty` and `ready,omitempty`, VirtualMachineInstanceMigrationState
/// `failed,omitempty` and `targetNodeDomainDetected,omitempty`: encoding/json drops them when
/// false, so a stopped VM shows neither and a completed migration no `failed`.
#[tokio::test]
async fn false_omitempty_fields_are_not_written() {
    let (_sim, client) = cluster().await;
    let mut stopped = value(&rhel_vm("stopped", json!({})));
    stopped["spec"]["runStrategy"] = json!("Halted");
    let stopped: DynamicObject = serde_json::from_value(stopped).unwrap();
    vm_api(&client)
        .create(&PostParams::default(), &stopped)
        .await
        .unwrap();
    let vm = until(&vm_api(&client), "stopped", "Stopped", |v| {
        v["status"]["printableStatus"] == "Stopped"
    })
    .await;
    let status = vm["status"].as_object().unwrap();
    assert!(
        !status.contains_key("created") && !status.contains_key("ready"),
        "{status:?}"
    );

    boot(&client, "a", json!({})).await;
    let (_, vmim) = migrate(&client, "a").await;
    assert_eq!(vmim["status"]["phase"], "Succeeded");
    let vmi = until(&vmis(&client), "a", "migrated", |v| {
        v["status"]["migrationState"]["completed"] == true
    })
    .await;
    let state = vmi["status"]["migrationState"].as_object().unwrap();
    assert_eq!(state["completed"], true);
    assert!(!state.contains_key("failed"), "{state:?}");
    let vm = value(&vm_api(&client).get("a").await.unwrap());
    assert_eq!(
        (&vm["status"]["created"], &vm["status"]["ready"]),
        (&json!(true), &json!(true))
    );
}

const PATCHED_MAC: &str = "02:00:00:ee:ee:ee";

/// Merge-patches VMI `name`'s main resource (there is no other way to its status); returns the
/// answer and the resourceVersion the VMI had before.
async fn patch_vmi(client: &kube::Client, name: &str, patch: Value) -> (Value, String) {
    let before = vmis(client).get(name).await.unwrap();
    let answered = vmis(client)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    (value(&answered), before.metadata.resource_version.unwrap())
}

/// The versions of VMI `name` after resourceVersion `rv` (a replay of its watch), up to the
/// first for which `pred` holds.
async fn versions_after(
    client: &kube::Client,
    name: &str,
    rv: &str,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let params = WatchParams::default().fields(&format!("metadata.name={name}"));
    let mut seen = Vec::new();
    let follow = async {
        let mut events = std::pin::pin!(vmis(client).watch(&params, rv).await.unwrap().boxed());
        while let Some(event) = events.try_next().await.unwrap() {
            if let WatchEvent::Modified(o) = event {
                seen.push(value(&o));
                if pred(seen.last().expect("just pushed")) {
                    return;
                }
            }
        }
    };
    if tokio::time::timeout(BUDGET, follow).await.is_err() {
        panic!("{name}: the awaited version did not come within {BUDGET:?}; saw {seen:?}");
    }
    seen
}

/// The VMI CRD has no status subresource (kubevirt/kubevirt pkg/virt-operator/resource/generate/
/// components/crds.go NewVirtualMachineInstanceCrd): a merge patch of the main resource stores
/// a status MAC, and `/status` is not found. The patch is an update event that triggers
/// virt-handler's sync, which rebuilds the interfaces from the domain
/// (pkg/network/setup/netstat.go NetStat.UpdateStatus): the domain's MAC comes back.
#[tokio::test]
async fn a_patched_status_mac_is_stored_then_rewritten_from_the_domain() {
    let (_sim, client) = cluster().await;
    let vmi = boot(&client, "a", json!({})).await;
    let domain_mac = vmi["status"]["interfaces"][0]["mac"].clone();
    assert!(domain_mac.is_string(), "{vmi}");
    let mut interfaces = vmi["status"]["interfaces"].clone();
    interfaces[0]["mac"] = json!(PATCHED_MAC);
    let patch = json!({"status": {"interfaces": interfaces}});
    let (answered, rv) = patch_vmi(&client, "a", patch).await;
    assert_eq!(
        answered["status"]["interfaces"][0]["mac"], PATCHED_MAC,
        "{answered}"
    );
    let mac = |v: &Value| v["status"]["interfaces"][0]["mac"].clone();
    let seen = versions_after(&client, "a", &rv, |v| mac(v) == domain_mac).await;
    assert_eq!(
        mac(&seen[0]),
        PATCHED_MAC,
        "the first version after the patch: {seen:?}"
    );
    assert!(seen.len() >= 2, "stored, then rewritten: {seen:?}");

    let status = vmis(&client).get_status("a").await.unwrap_err();
    assert!(
        matches!(&status, kube::Error::Api(e) if e.code == 404),
        "a VMI has no status subresource: {status:?}"
    );
}

/// The VM CRD has a status subresource (crds.go NewVirtualMachineCrd): a status change through
/// the main resource is dropped (apiextensions-apiserver customResourceStrategy.PrepareForUpdate).
#[tokio::test]
async fn a_vm_status_is_not_written_through_the_main_resource() {
    let (_sim, client) = cluster().await;
    boot(&client, "a", json!({})).await;
    let patch = json!({"status": {"printableStatus": "Stopped"}});
    let answered = value(
        &vm_api(&client)
            .patch("a", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap(),
    );
    assert_eq!(
        answered["status"]["printableStatus"], "Running",
        "{answered}"
    );
}

/// pkg/virt-handler/migration-source.go setMigrationProgressStatus copies the mode from the
/// domain only while isMigrationSource holds; after the migration completed the VMI runs on
/// the target, so a mode patched then stays. The same patch changes a MAC: the version in which
/// the handler's sync wrote that back still has the patched mode.
#[tokio::test]
async fn a_mode_patched_after_a_completed_migration_stays() {
    let (_sim, client) = cluster().await;
    boot(&client, "a", json!({})).await;
    migrate(&client, "a").await;
    let vmi = until(&vmis(&client), "a", "migrated", |v| {
        v["status"]["migrationState"]["completed"] == true
    })
    .await;
    let domain_mac = vmi["status"]["interfaces"][0]["mac"].clone();
    let mut interfaces = vmi["status"]["interfaces"].clone();
    interfaces[0]["mac"] = json!(PATCHED_MAC);
    let patch = json!({"status": {"interfaces": interfaces,
                                  "migrationState": {"mode": "PostCopy"}}});
    let (answered, rv) = patch_vmi(&client, "a", patch).await;
    let mode = |v: &Value| v["status"]["migrationState"]["mode"].clone();
    assert_eq!(mode(&answered), "PostCopy", "{answered}");
    let mac = |v: &Value| v["status"]["interfaces"][0]["mac"].clone();
    let seen = versions_after(&client, "a", &rv, |v| mac(v) == domain_mac).await;
    let synced = seen.last().expect("at least the awaited version");
    assert_eq!(mode(synced), "PostCopy", "{seen:?}");
}

//! What the cluster did with a tamper, watched for after it: whether it took hold (the guest
//! stopped, paused, moved back) or was written back (a status patch), so the table can say
//! whether it landed while the scenario still ran its checks.

use kube::api::{Api, DynamicObject};
use serde_json::Value;

use super::{condition_true, first_of, first_where, obj_str, vmims, vmis, watch, Plan, Tamper};

/// Waits for the tamper's effect and describes it.
pub async fn seen(
    client: &kube::Client,
    ns: &str,
    plan: &Plan,
    acted_on: &DynamicObject,
    migrations_before: &[String],
) -> anyhow::Result<String> {
    let vmi_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &vmis());
    let uid = acted_on.metadata.uid.clone().unwrap_or_default();
    match plan.tamper {
        Tamper::Restart | Tamper::DeleteLauncher => {
            let stopped = first_where(&vmi_api, &plan.vm, |v| {
                // Deleting is not enough: the guest runs through its graceful shutdown.
                v.metadata.uid.as_deref() != Some(uid.as_str())
                    || matches!(obj_str(v, "/status/phase"), "Succeeded" | "Failed")
            })
            .await?;
            Ok(format!(
                "the guest it acted on stopped (VMI phase {:?}{})",
                obj_str(&stopped, "/status/phase"),
                if stopped.metadata.deletion_timestamp.is_some() {
                    ", deleting"
                } else {
                    ""
                }
            ))
        }
        Tamper::Pause => {
            first_where(&vmi_api, &plan.vm, |v| condition_true(v, "Paused")).await?;
            Ok("the VMI is Paused".into())
        }
        Tamper::NadBack => nad_back(client, ns, plan, acted_on, migrations_before).await,
        Tamper::PatchMac => {
            let patched = |v: &DynamicObject| net1_mac(&v.data).is_some_and(|m| m != PATCHED_MAC);
            first_where(&vmi_api, &plan.vm, patched).await?;
            Ok("the VMI status MAC was written back from the domain".into())
        }
        Tamper::PatchMode => patch_mode(&vmi_api, plan, acted_on).await,
    }
}

/// Whether anything writes the patched mode over. While the VMI runs on its migration's
/// source node, the source's virt-handler copies the mode from the domain's migration metadata
/// on the sync the patch triggers (kubevirt pkg/virt-handler/migration-source.go
/// setMigrationProgressStatus, gated by isMigrationSource); before any migration, the next one
/// brings its own migrationState and mode. Once the VMI runs on the target, nothing does: the
/// mode stays, and the effect says what a read then shows.
async fn patch_mode(
    vmi_api: &Api<DynamicObject>,
    plan: &Plan,
    acted_on: &DynamicObject,
) -> anyhow::Result<String> {
    let mode = |v: &DynamicObject| obj_str(v, "/status/migrationState/mode").to_string();
    let source = obj_str(acted_on, "/status/migrationState/sourceNode");
    let on_target = !source.is_empty() && obj_str(acted_on, "/status/nodeName") != source;
    if on_target {
        let now = vmi_api.get(&plan.vm).await?;
        return Ok(format!(
            "stored and kept: the VMI no longer runs on its migration's source node (nothing \
             writes the mode back); a read after it shows mode {:?}",
            mode(&now)
        ));
    }
    first_where(vmi_api, &plan.vm, |v| mode(v) != PATCHED_MODE).await?;
    Ok("the VMI status migrationState.mode was written over".into())
}

/// What breaks the swap's guarded result first: the VMI spec names the first NAD again while
/// the migration running when the tamperer acted is not yet recorded completed (the VMI the
/// row reads then names it), or a later migration moves the guest back to the first VLAN.
/// A revert that reaches the VMI spec after the completion was recorded leaves the guest on
/// the new VLAN until that later migration: no guarded result breaks before it.
async fn nad_back(
    client: &kube::Client,
    ns: &str,
    plan: &Plan,
    acted_on: &DynamicObject,
    migrations_before: &[String],
) -> anyhow::Result<String> {
    let vmi_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &vmis());
    let running = obj_str(acted_on, "/status/migrationState/migrationUid").to_string();
    let first_nad = plan.first_nad.clone();
    let reverted_before_completion = move |v: &DynamicObject| {
        let state = &v.data["status"]["migrationState"];
        !running.is_empty()
            && state["migrationUid"] == running.as_str()
            && state["completed"] != true
            && net1_nad(&v.data) == Some(first_nad.as_str())
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &vmims());
    let new_success = |m: &DynamicObject| {
        let name = m.metadata.name.clone().unwrap_or_default();
        obj_str(m, "/status/phase") == "Succeeded" && !migrations_before.contains(&name)
    };
    tokio::select! {
        reverted = first_where(&vmi_api, &plan.vm, reverted_before_completion) => {
            reverted?;
            Ok("the VMI spec named the first NAD before the migration was recorded completed".into())
        }
        moved = first_of(watch(&api), new_success) => Ok(format!(
            "migration {} moved the VM back",
            moved?.metadata.name.unwrap_or_default()
        )),
    }
}

fn net1_nad(vmi: &Value) -> Option<&str> {
    vmi["spec"]["networks"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == "net1")?["multus"]["networkName"]
        .as_str()
}

/// The MAC and mode the status patches write.
pub const PATCHED_MAC: &str = "02:00:00:ee:ee:ee";
pub const PATCHED_MODE: &str = "PostCopy";

fn net1_mac(vmi: &Value) -> Option<&str> {
    vmi["status"]["interfaces"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == "net1")?["mac"]
        .as_str()
}

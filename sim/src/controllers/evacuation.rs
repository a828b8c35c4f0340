//! Drain: the pod-eviction webhook (429 while the VMI is evacuated), the evacuation
//! controller that creates `kubevirt-evacuation-` migrations, and the drain taint.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{migratable, Ctx};
use crate::error::{ApiError, ApiResult};
use crate::faults::Fault;
use crate::kinds;
use crate::obj;

/// A refusal of virt-api's eviction webhook (kubevirt v1.9.0 pkg/virt-api/webhooks/
/// validating-webhook/admitters/pod-eviction-admitter.go denied: code 429, no reason), named
/// as virt-operator registers it (components/webhooks.go) and passed on by the API server
/// (k8s.io/apiserver webhook/errors ToStatusErr).
fn denied(message: String) -> ApiError {
    ApiError::new(
        429,
        "",
        format!("admission webhook \"virt-launcher-eviction-interceptor.kubevirt.io\" denied the request: {message}"),
    )
}

/// The eviction webhook for a pod (pod-eviction-admitter.go admitLauncherPod, v1.9.0).
pub fn admit_eviction(ctx: &Ctx, pod: &Value, dry_run: bool) -> ApiResult<()> {
    let launcher = obj::label(pod, "kubevirt.io") == Some("virt-launcher");
    let completed = matches!(obj::str_at(pod, "/status/phase"), "Succeeded" | "Failed");
    let Some(vmi_name) =
        obj::annotation(pod, "kubevirt.io/domain").filter(|_| launcher && !completed)
    else {
        return Ok(());
    };
    let ns = obj::namespace(pod);
    let Some(vmi) = ctx.get(kinds::VMIS, ns, vmi_name) else {
        return Err(denied(format!("kubevirt failed getting the vmi: virtualmachineinstance.kubevirt.io \"{vmi_name}\" not found")));
    };
    let strategy = vmi["spec"]["evictionStrategy"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| ctx.config().eviction_strategy);
    if ctx.faults.has(Fault::EvictionWithoutMigration) {
        // The regression: the launcher pod goes as if the VMI had no eviction strategy.
        return Ok(());
    }
    let migratable = migratable::is_migratable(&vmi);
    let mark = match strategy.as_str() {
        "LiveMigrate" if !migratable => {
            return Err(denied(format!(
                "VMI {vmi_name} is configured with an eviction strategy but is not live-migratable"
            )));
        }
        "LiveMigrate" | "External" => true,
        "LiveMigrateIfPossible" => migratable,
        _ => false,
    };
    if !mark {
        return Ok(());
    }
    let message = format!("Eviction triggered evacuation of VMI \"{ns}/{vmi_name}\"");
    if vmi["status"]["evacuationNodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty())
    {
        return Err(denied(format!("Evacuation in progress: {message}")));
    }
    let pod_node = obj::str_at(pod, "/spec/nodeName");
    if obj::str_at(&vmi, "/status/nodeName") != pod_node {
        return Err(denied("Eviction request for target Pod".into()));
    }
    if !dry_run {
        ctx.write(kinds::VMIS, ns, vmi_name, |v| {
            v["status"]["evacuationNodeName"] = json!(pod_node)
        });
    }
    Err(denied(message))
}

/// The evacuation controller for one VMI.
pub fn reconcile(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    let Some(v) = ctx.get(kinds::VMIS, ns, name) else {
        return;
    };
    let node = obj::str_at(&v, "/status/evacuationNodeName");
    if node.is_empty() || obj::str_at(&v, "/status/nodeName") != node {
        return;
    }
    evacuate(ctx, &v, node);
}

fn evacuate(ctx: &Ctx, v: &Value, node: &str) {
    let ready = obj::str_at(v, "/status/phase") == "Running"
        && migratable::is_migratable(v)
        && !obj::deleting(v);
    if !ready
        || ctx
            .active_migration_of(obj::namespace(v), obj::name(v))
            .is_some()
    {
        return;
    }
    let priority = if obj::annotation(v, "kubevirt.io/eviction-source") == Some("descheduler") {
        "system-maintenance"
    } else {
        "system-critical"
    };
    let vmim = json!({
        "metadata": {"generateName": "kubevirt-evacuation-", "namespace": obj::namespace(v),
                     "annotations": {"kubevirt.io/evacuationMigration": node}},
        "spec": {"vmiName": obj::name(v), "priority": priority},
    });
    let _ = super::admission::create_migration(ctx, vmim);
}

/// The drain taint (`<nodeDrainTaintKey>:NoSchedule`) evacuates every VMI on the node.
pub fn on_node(ctx: &Arc<Ctx>, node: &Value) {
    let key = ctx.config().migrations["nodeDrainTaintKey"]
        .as_str()
        .unwrap_or("kubevirt.io/drain")
        .to_string();
    let tainted = node["spec"]["taints"].as_array().is_some_and(|t| {
        t.iter()
            .any(|t| t["key"] == key.as_str() && t["effect"] == "NoSchedule")
    });
    if !tainted {
        return;
    }
    let name = obj::name(node);
    for v in ctx
        .list(kinds::VMIS, None)
        .iter()
        .filter(|v| obj::str_at(v, "/status/nodeName") == name)
    {
        evacuate(ctx, v, name);
    }
}

//! The resources a launcher pod requests for its networks: a NAD may name a device-plugin-like
//! resource (`k8s.v1.cni.cncf.io/resourceName`, e.g. bridge-marker's
//! `bridge.network.kubevirt.io/<bridge>`), which the scheduler then finds on nodes only.

use serde_json::{json, Value};

use super::{launcher, Ctx};
use crate::kinds;
use crate::obj;

/// kubevirt v1.9.0 pkg/network/multus/annotation.go `ResourceNameAnnotation`.
const RESOURCE_NAME: &str = "k8s.v1.cni.cncf.io/resourceName";

/// kubevirt v1.9.0 pkg/network/multus/nad.go `NetworkToResource`: the resource each Multus
/// network's NAD names (a missing NAD fails the render).
fn network_to_resource(ctx: &Ctx, vmi: &Value) -> Result<Vec<String>, String> {
    let mut resources = Vec::new();
    for net in vmi["spec"]["networks"].as_array().into_iter().flatten() {
        let Some(nad) = launcher::nad_name(vmi, net) else {
            continue;
        };
        let (ns, name) = nad.split_once('/').unwrap_or((obj::namespace(vmi), &nad));
        let Some(object) = ctx.get(kinds::NADS, ns, name) else {
            return Err(format!(
                "failed to locate network attachment definition {ns}/{name}"
            ));
        };
        if let Some(resource) = obj::annotation(&object, RESOURCE_NAME).filter(|r| !r.is_empty()) {
            resources.push(resource.to_string());
        }
    }
    Ok(resources)
}

/// kubevirt v1.9.0 pkg/virt-controller/services/template.go `RenderLaunchManifest` (with
/// renderresources.go `WithNetworkResources` / `requestResource`): one of each network's
/// resource more in the compute container's requests and limits. Errors are the render's
/// (`FailedToRenderLaunchManifestErrFormat`).
pub fn request(ctx: &Ctx, vmi: &Value, pod: &mut Value) -> Result<(), String> {
    if external_injection(ctx) {
        return Ok(());
    }
    let resources = network_to_resource(ctx, vmi)
        .map_err(|e| format!("failed to render launch manifest: {e}"))?;
    let compute = &mut pod["spec"]["containers"][0]["resources"];
    for resource in resources {
        for list in ["requests", "limits"] {
            let held = compute[list][&resource]
                .as_str()
                .and_then(|n| n.parse::<u64>().ok());
            compute[list][&resource] = json!((held.unwrap_or(0) + 1).to_string());
        }
    }
    Ok(())
}

/// The ExternalNetResourceInjection feature gate (kubevirt v1.9.0 pkg/virt-config
/// `ExternalNetResourceInjectionEnabled`): another component injects the resources.
fn external_injection(ctx: &Ctx) -> bool {
    ctx.list(kinds::KUBEVIRTS, None).iter().any(|cr| {
        cr["spec"]["configuration"]["developerConfiguration"]["featureGates"]
            .as_array()
            .is_some_and(|gates| gates.iter().any(|g| g == "ExternalNetResourceInjection"))
    })
}

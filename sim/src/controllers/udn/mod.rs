//! OVN-Kubernetes user-defined networks: a UserDefinedNetwork (or a ClusterUserDefinedNetwork
//! per selected namespace) becomes a NAD of the `ovn-k8s-cni-overlay` plugin, with upstream's
//! conditions. A primary network is what a labelled namespace's pods (and VMs with the l2bridge
//! binding) get instead of the cluster pod network; IPs stay with the VM through an IPAMClaim
//! (ipam-extensions) when the lifecycle is Persistent.

pub mod claims;
pub mod dhcp;
mod ipam;
mod nads;
mod template;
mod webhook;

use std::sync::Arc;

use serde_json::Value;

use super::Ctx;
use crate::kinds;
use crate::obj;
pub use ipam::{claim_address, Pools};
use nads::{nad_config, primary_nad};
use template::{Owner, FINALIZER};
pub use webhook::ipam_claims_webhook;

/// go-controller/pkg/types/const.go `RequiredUDNNamespaceLabel`.
pub const PRIMARY_LABEL: &str = "k8s.ovn.org/primary-user-defined-network";

/// go-controller/pkg/util/util.go `InvalidPrimaryNetworkError`.
fn invalid_primary_network(ns: &str) -> String {
    format!("invalid primary network state for namespace \"{ns}\": a valid primary user defined network or network attachment definition custom resource, and required namespace label \"{PRIMARY_LABEL}\" must both be present")
}

fn labelled(ctx: &Ctx, ns: &str) -> bool {
    ctx.get(kinds::NAMESPACES, "", ns)
        .is_some_and(|n| obj::label(&n, PRIMARY_LABEL).is_some())
}

/// ovn-kubernetes (master) go-controller/pkg/clustermanager/userdefinednetwork/
/// controller_helper.go `updateNAD`: a primary network needs the namespace label; the NAD is
/// created (unless another primary one exists), or updated when it is this owner's, refused when
/// it is someone else's. Returns the NAD's name on success.
fn update_nad(ctx: &Ctx, owner: Owner, object: &Value, ns: &str) -> Result<(), String> {
    let primary = template::is_primary(owner.spec(object));
    if primary && !labelled(ctx, ns) {
        return Err(invalid_primary_network(ns));
    }
    let preconfigured = crate::world::ovnk::preconfigured_udn_addresses(&ctx.store);
    let desired = template::render(owner, object, ns, preconfigured)?;
    let name = obj::name(object);
    let Some(existing) = ctx.get(kinds::NADS, ns, name) else {
        if primary {
            if let Some(other) = primary_nad(ctx, ns) {
                return Err(format!(
                    "primary network already exist in namespace \"{ns}\": \"{}\"",
                    obj::name(&other)
                ));
            }
        }
        return ctx
            .create(kinds::NADS, desired)
            .map(|_| ())
            .map_err(|e| format!("failed to create NetworkAttachmentDefinition: {e}"));
    };
    if existing["metadata"]["ownerReferences"][0]["uid"] != obj::uid(object) {
        return Err(format!(
            "foreign NetworkAttachmentDefinition with the desired name already exist [{ns}/{name}]"
        ));
    }
    if existing["spec"] != desired["spec"]
        || existing["metadata"]["labels"] != desired["metadata"]["labels"]
    {
        ctx.write(kinds::NADS, ns, name, |n| {
            n["spec"] = desired["spec"].clone();
            n["metadata"]["labels"] = desired["metadata"]["labels"].clone();
        });
    }
    Ok(())
}

fn remove_nad(ctx: &Ctx, ns: &str, name: &str) {
    if ctx.get(kinds::NADS, ns, name).is_some() {
        ctx.write(kinds::NADS, ns, name, |n| {
            obj::remove_finalizer(n, FINALIZER)
        });
        ctx.delete(kinds::NADS, ns, name);
    }
}

/// `newNetworkCreatedCondition` / `newClusterNetworkCreatedCondition`, and the cluster
/// manager's allocation condition once the network exists.
fn set_created(object: &mut Value, created: Result<String, (&str, String)>, now: &str) {
    match created {
        Ok(message) => {
            obj::set_condition(
                object,
                "NetworkCreated",
                true,
                "NetworkAttachmentDefinitionCreated",
                &message,
                now,
            );
            obj::set_condition(
                object,
                "NetworkAllocationSucceeded",
                true,
                "NetworkAllocationSucceeded",
                "Network allocation succeeded for all synced nodes.",
                now,
            );
        }
        Err((reason, why)) => {
            obj::set_condition(object, "NetworkCreated", false, reason, &why, now)
        }
    }
}

/// ovn-kubernetes (master) go-controller/pkg/clustermanager/userdefinednetwork/controller.go
/// `syncUserDefinedNetwork` and `updateUserDefinedNetworkStatus`.
pub fn reconcile_udn(ctx: &Arc<Ctx>, ns: &str, name: &str) {
    crate::world::ovnk::publish(&ctx.store);
    let Some(udn) = ctx.get(kinds::UDNS, ns, name) else {
        return;
    };
    if obj::deleting(&udn) {
        remove_nad(ctx, ns, name);
        ctx.write(kinds::UDNS, ns, name, |u| {
            obj::remove_finalizer(u, FINALIZER)
        });
        return;
    }
    let created = update_nad(ctx, Owner::Udn, &udn, ns)
        .map(|()| "NetworkAttachmentDefinition has been created".to_string())
        .map_err(|why| ("SyncError", why));
    let now = ctx.now();
    ctx.write(kinds::UDNS, ns, name, |u| {
        obj::add_finalizer(u, FINALIZER);
        set_created(u, created, &now);
    });
}

/// ovn-kubernetes (master) go-controller/pkg/clustermanager/userdefinednetwork/controller.go
/// `updateClusterUDN` and `updateClusterUDNStatus`: a NAD in every selected namespace that
/// takes it; the others' errors joined (Go's `errors.Join`) in the condition.
pub fn reconcile_cudn(ctx: &Arc<Ctx>, name: &str) {
    crate::world::ovnk::publish(&ctx.store);
    let Some(cudn) = ctx.get(kinds::CUDNS, "", name) else {
        return;
    };
    let mut selected: Vec<String> = ctx
        .list(kinds::NAMESPACES, None)
        .iter()
        .filter(|n| {
            !obj::deleting(n)
                && obj::label_selector_matches(&cudn["spec"]["namespaceSelector"], &obj::labels(n))
        })
        .map(|n| obj::name(n).to_string())
        .collect();
    selected.sort();
    let owned = |n: &Value| n["metadata"]["ownerReferences"][0]["uid"] == obj::uid(&cudn);
    for nad in ctx.list(kinds::NADS, None).iter().filter(|n| owned(n)) {
        if obj::deleting(&cudn) || !selected.iter().any(|s| s == obj::namespace(nad)) {
            remove_nad(ctx, obj::namespace(nad), obj::name(nad));
        }
    }
    if obj::deleting(&cudn) {
        ctx.write(kinds::CUDNS, "", name, |c| {
            obj::remove_finalizer(c, FINALIZER)
        });
        return;
    }
    let mut created = Vec::new();
    let mut errors = Vec::new();
    for ns in &selected {
        match update_nad(ctx, Owner::Cudn, &cudn, ns) {
            Ok(()) => created.push(ns.as_str()),
            Err(why) => errors.push(why),
        }
    }
    let outcome = if errors.is_empty() {
        Ok(format!(
            "NetworkAttachmentDefinition has been created in following namespaces: [{}]",
            created.join(", ")
        ))
    } else {
        Err(("NetworkAttachmentDefinitionSyncError", errors.join("\n")))
    };
    let now = ctx.now();
    ctx.write(kinds::CUDNS, "", name, |c| {
        obj::add_finalizer(c, FINALIZER);
        set_created(c, outcome, &now);
    });
}

/// The primary user-defined network of namespace `ns`: (OVN network name, its NAD config).
/// ovn-kubernetes (master) go-controller/pkg/networkmanager/nad_controller.go
/// `GetActiveNetworkForNamespace`: a namespace without the label is on the default network,
/// whatever NADs it has.
pub fn primary_network(ctx: &Ctx, ns: &str) -> Option<(String, Value)> {
    if !labelled(ctx, ns) {
        return None;
    }
    let config = nad_config(&*primary_nad(ctx, ns)?)?;
    Some((config["name"].as_str().unwrap_or("").to_string(), config))
}

/// The launcher pod's interface for the VMI's pod network on `segment`: kubevirt v1.9.0
/// pkg/network/controllers/vmi.go `calculatePrimaryIfaceStatus` takes the default entry of the
/// pod's network-status (multus/status.go `LookupPodPrimaryIfaceName`), which on a primary UDN
/// is the interface OVN-K adds for it (ovn-kubernetes go-controller/pkg/cni/cniserver.go
/// `getPrimaryUDNPodRequest`: `ovn-udn1`), else `eth0`.
pub fn primary_pod_interface(segment: &str) -> &'static str {
    if segment.starts_with("udn:") {
        "ovn-udn1"
    } else {
        "eth0"
    }
}

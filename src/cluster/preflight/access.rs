//! RBAC: whether the user may do, through the API, what the scenarios do. Each verb on each
//! resource the catalogue uses is asked of the API server with a SelfSubjectAccessReview
//! (what `kubectl auth can-i` sends), grouped by what uses it, so that a refusal skips exactly
//! the scenarios that would meet it.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use super::super::retry::retrying;

/// What a group of scenarios does through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Use {
    /// Every scenario: its namespace, VMs, their guests (port-forward) and what it waits on.
    Vms,
    /// Migrating a VM (two workers).
    Migrations,
    /// Linux bridges on the nodes through kubernetes-nmstate.
    NodeNetworks,
    /// Secondary networks through Multus.
    SecondaryNetworks,
    /// OVN-Kubernetes user-defined networks.
    UserDefinedNetworks,
    MigrationPolicies,
    /// Cordoning a node and evicting its pods.
    NodeDrain,
}

/// One verb list on one resource (`group` "" is the core API; a subresource is
/// `resource/subresource`, as RBAC names it).
struct Permission {
    by: Use,
    verbs: &'static [&'static str],
    group: &'static str,
    resource: &'static str,
}

const fn may(
    by: Use,
    verbs: &'static [&'static str],
    group: &'static str,
    resource: &'static str,
) -> Permission {
    Permission {
        by,
        verbs,
        group,
        resource,
    }
}

const WRITE: &[&str] = &["create", "get", "list", "watch", "patch", "delete"];
const READ: &[&str] = &["get", "list", "watch"];
const KV: &str = "kubevirt.io";

/// Every verb on every resource the catalogue uses, by what uses it: the one table preflight
/// asks the API server about.
const PERMISSIONS: &[Permission] = &[
    may(Use::Vms, WRITE, "", "namespaces"),
    may(Use::Vms, WRITE, "", "secrets"),
    may(Use::Vms, READ, "", "pods"),
    may(Use::Vms, READ, "", "events"),
    may(Use::Vms, READ, "", "nodes"),
    may(Use::Vms, WRITE, KV, "virtualmachines"),
    may(Use::Vms, READ, KV, "virtualmachineinstances"),
    may(Use::Vms, READ, KV, "kubevirts"),
    may(
        Use::Vms,
        &["get"],
        "subresources.kubevirt.io",
        "virtualmachineinstances/portforward",
    ),
    may(
        Use::Migrations,
        WRITE,
        KV,
        "virtualmachineinstancemigrations",
    ),
    may(
        Use::NodeNetworks,
        WRITE,
        "nmstate.io",
        "nodenetworkconfigurationpolicies",
    ),
    may(
        Use::NodeNetworks,
        READ,
        "nmstate.io",
        "nodenetworkconfigurationenactments",
    ),
    may(Use::NodeNetworks, READ, "nmstate.io", "nodenetworkstates"),
    may(
        Use::SecondaryNetworks,
        WRITE,
        "k8s.cni.cncf.io",
        "network-attachment-definitions",
    ),
    may(
        Use::UserDefinedNetworks,
        WRITE,
        "k8s.ovn.org",
        "userdefinednetworks",
    ),
    may(
        Use::MigrationPolicies,
        WRITE,
        "migrations.kubevirt.io",
        "migrationpolicies",
    ),
    may(Use::NodeDrain, &["patch"], "", "nodes"),
    may(Use::NodeDrain, &["create"], "", "pods/eviction"),
];

/// Asks about every permission of `by`: the permissions refused, or why it cannot be asked.
pub async fn refused(client: &kube::Client, by: Use) -> Result<Vec<String>, String> {
    let mut refused = Vec::new();
    for p in PERMISSIONS.iter().filter(|p| p.by == by) {
        for verb in p.verbs {
            if !allowed(client, verb, p).await? {
                refused.push(spelled(verb, p));
            }
        }
    }
    Ok(refused)
}

/// `create nodenetworkconfigurationpolicies.nmstate.io`, as `kubectl auth can-i` takes it.
fn spelled(verb: &str, p: &Permission) -> String {
    if p.group.is_empty() {
        format!("{verb} {}", p.resource)
    } else {
        format!("{verb} {}.{}", p.resource, p.group)
    }
}

async fn allowed(client: &kube::Client, verb: &str, p: &Permission) -> Result<bool, String> {
    let (resource, subresource) = p.resource.split_once('/').unwrap_or((p.resource, ""));
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(p.group.into()),
                resource: Some(resource.into()),
                subresource: (!subresource.is_empty()).then(|| subresource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let (api, params) = (
        Api::<SelfSubjectAccessReview>::all(client.clone()),
        PostParams::default(),
    );
    let answer = retrying(|| api.create(&params, &review))
        .await
        .map_err(|e| {
            format!(
                "cannot ask the API server whether the user may {}: {e}",
                spelled(verb, p)
            )
        })?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// The finding for `by`: what it may do, or what it may not.
pub async fn check(client: &kube::Client, by: Use) -> Result<String, String> {
    match refused(client, by).await?.as_slice() {
        [] => Ok(format!("RBAC allows what {by:?} scenarios do")),
        denied => Err(format!(
            "RBAC: the user may not {} (SelfSubjectAccessReview; `kubectl auth can-i` shows the same)",
            denied.join(", ")
        )),
    }
}

/// Every use, for preflight to ask about each.
pub const USES: [Use; 7] = [
    Use::Vms,
    Use::Migrations,
    Use::NodeNetworks,
    Use::SecondaryNetworks,
    Use::UserDefinedNetworks,
    Use::MigrationPolicies,
    Use::NodeDrain,
];

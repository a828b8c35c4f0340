//! The IPAMClaim that keeps a VM's addresses on a network with persistent IPs: made by
//! ipam-extensions (`<vm>.<network>`, owned by the VM), its addresses written by OVN-Kubernetes.

use anyhow::Context as _;
use serde::Deserialize;

use crate::cluster::kinds;
use crate::cluster::retry::retrying;
use crate::cluster::scope::Scope;

/// What a test reads of an IPAMClaim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamClaim {
    pub uid: String,
    /// The OVN-K network (`spec.network`).
    pub network: String,
    /// `status.ips`, `address/prefix`.
    pub ips: Vec<String>,
    /// Kind and name of the controlling owner.
    pub owner: Option<(String, String)>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Raw {
    metadata: RawMeta,
    spec: RawSpec,
    status: RawStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawMeta {
    uid: String,
    owner_references: Vec<RawOwner>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawOwner {
    kind: String,
    name: String,
    controller: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawSpec {
    network: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawStatus {
    ips: Vec<String>,
}

/// kubevirt/ipam-extensions pkg/claims/claims.go `ComposeKey` for the names vstp gives.
pub fn claim_name(vm: &str, network: &str) -> String {
    format!("{vm}.{network}").to_lowercase()
}

/// Claim `name` of the scope's namespace, if there is one.
pub async fn read(scope: &Scope, name: &str) -> anyhow::Result<Option<IpamClaim>> {
    let api = kinds::IPAM_CLAIM.api(scope.client(), scope.ns());
    let found = retrying(|| api.get_opt(name))
        .await
        .with_context(|| format!("cannot read IPAMClaim {name}"))?;
    let Some(found) = found else {
        return Ok(None);
    };
    let raw = Raw::deserialize(&kinds::to_value(&found))
        .with_context(|| format!("IPAMClaim {name} is not shaped like one"))?;
    let owner = raw
        .metadata
        .owner_references
        .into_iter()
        .find(|o| o.controller);
    Ok(Some(IpamClaim {
        uid: raw.metadata.uid,
        network: raw.spec.network,
        ips: raw.status.ips,
        owner: owner.map(|o| (o.kind, o.name)),
    }))
}

//! Running VMs: create one from a builder and wait until its guest is up, read its VMI, change
//! its networks live.

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};
use serde_json::{json, Value};

use super::budget::Wait;
use super::build::Vm;
use super::kinds;
use super::retry::retrying;
use super::scope::Scope;
use super::wait::{condition, to_value, Watch};
use crate::guest::access::Guest;
use crate::guest::ssh::Login;
use crate::scenarios::GuestOs;

/// A VM whose guest answers: its name, its guest, and its VMI as it was when it came up.
pub struct Running {
    pub name: String,
    pub guest: Guest,
    pub vmi: Value,
}

impl Running {
    /// The VMI's current node.
    pub fn node(&self) -> &str {
        self.vmi["status"]["nodeName"].as_str().unwrap_or("")
    }
}

/// Creates `vm` (and, for Windows, the Secret its key comes from), waits until the guest agent
/// connects, and returns a handle logged in as `login`.
pub async fn start(scope: &Scope, vm: &Vm, login: Login) -> anyhow::Result<Running> {
    if vm.os == GuestOs::Windows {
        let key = vm.login.as_ref().map_or("", |l| l.1.as_str());
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": vm.key_secret()}, "stringData": {"key": key}});
        scope.create(kinds::SECRET, secret).await?;
    }
    scope.create(kinds::VM, vm.build()).await?;
    let vmi = Watch::object(scope.client(), kinds::VMI, scope.ns(), &vm.name)
        .until_object(
            &format!("VMI {} to run with its guest agent connected", vm.name),
            scope.budgets.of(Wait::Boot),
            |v| condition(v, "AgentConnected") == Some("True"),
        )
        .await?;
    let guest = Guest::new(scope.client(), scope.ns(), &vm.name, vm.os, login);
    Ok(Running {
        name: vm.name.clone(),
        guest,
        vmi,
    })
}

/// The current object `name` of `kind` in the scope's namespace.
pub async fn get(scope: &Scope, kind: kinds::Kind, name: &str) -> anyhow::Result<Value> {
    let api = kind.api(scope.client(), scope.ns());
    let found = retrying(|| api.get(name))
        .await
        .with_context(|| format!("cannot read {} {name}", kind.kind))?;
    Ok(to_value(&found))
}

pub fn resource_version(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Points the VM's networks named in `changes` (network name → NAD) at new NADs in one
/// update, as a user editing the VM would. Returns the mark from which the reaction is
/// watched.
pub async fn swap_networks(
    scope: &Scope,
    vm: &str,
    changes: &[(&str, &str)],
) -> anyhow::Result<super::migration::Mark> {
    let since = super::migration::mark(scope, vm).await?;
    let current = get(scope, kinds::VM, vm).await?;
    let mut networks = current["spec"]["template"]["spec"]["networks"].clone();
    for (network, nad) in changes {
        let entry = networks
            .as_array_mut()
            .into_iter()
            .flatten()
            .find(|n| n["name"] == *network)
            .with_context(|| format!("VM {vm} has no network {network}"))?;
        entry["multus"]["networkName"] = json!(nad);
    }
    let patch = json!({"spec": {"template": {"spec": {"networks": networks}}}});
    patch_vm(scope, vm, &patch).await?;
    Ok(since)
}

/// A merge patch of VM `vm`.
pub async fn patch_vm(scope: &Scope, vm: &str, patch: &Value) -> anyhow::Result<()> {
    let api = kinds::VM.api(scope.client(), scope.ns());
    let (params, patch) = (PatchParams::default(), Patch::Merge(patch));
    retrying(|| api.patch(vm, &params, &patch))
        .await
        .with_context(|| format!("cannot update VM {vm}"))?;
    Ok(())
}

/// The NAD the VMI spec names for network `network`.
pub fn network_of<'a>(vmi: &'a Value, network: &str) -> Option<&'a str> {
    vmi["spec"]["networks"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == network)?["multus"]["networkName"]
        .as_str()
}

/// The MAC the VMI status reports for interface `name`.
pub fn mac_of(vmi: &Value, name: &str) -> Option<String> {
    vmi["status"]["interfaces"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)?["mac"]
        .as_str()
        .map(str::to_lowercase)
}

/// The address the VMI status reports for interface `name`.
pub fn ip_of(vmi: &Value, name: &str) -> Option<std::net::IpAddr> {
    vmi["status"]["interfaces"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)?["ipAddress"]
        .as_str()?
        .parse()
        .ok()
}

/// Appends `nic` (interface and network) to the running VM's template, as a user hot-plugging
/// a NIC does. Returns the mark from which the reaction is watched.
pub async fn hotplug_nic(
    scope: &Scope,
    vm: &str,
    nics: &[&crate::cluster::build::Nic],
) -> anyhow::Result<super::migration::Mark> {
    let mark = super::migration::mark(scope, vm).await?;
    let current = get(scope, kinds::VM, vm).await?;
    let spec = &current["spec"]["template"]["spec"];
    let mut interfaces = spec["domain"]["devices"]["interfaces"].clone();
    let mut networks = spec["networks"].clone();
    for nic in nics {
        if let (Some(i), Some(n)) = (interfaces.as_array_mut(), networks.as_array_mut()) {
            i.push(nic.interface());
            n.push(nic.network());
        }
    }
    let patch = json!({"spec": {"template": {"spec": {
        "domain": {"devices": {"interfaces": interfaces}}, "networks": networks}}}});
    patch_vm(scope, vm, &patch).await?;
    Ok(mark)
}

/// Marks interface `name` `state: absent` in the VM template (hot-unplug).
pub async fn unplug_nic(
    scope: &Scope,
    vm: &str,
    name: &str,
) -> anyhow::Result<super::migration::Mark> {
    let mark = super::migration::mark(scope, vm).await?;
    let current = get(scope, kinds::VM, vm).await?;
    let mut interfaces =
        current["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"].clone();
    let entry = interfaces
        .as_array_mut()
        .into_iter()
        .flatten()
        .find(|i| i["name"] == name)
        .with_context(|| format!("VM {vm} has no interface {name}"))?;
    entry["state"] = json!("absent");
    let patch = json!({"spec": {"template": {"spec": {"domain": {"devices": {"interfaces": interfaces}}}}}});
    patch_vm(scope, vm, &patch).await?;
    Ok(mark)
}

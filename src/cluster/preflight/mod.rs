//! Before the first scenario touches a target: is the API there, are the operators installed,
//! is KubeVirt configured for the automatic flows, are there enough workers with the NICs the
//! profile names. Every finding is printed; an unmet one turns exactly the scenarios that need
//! it into skips with the reason, never into failures.

mod access;
mod image;
mod limits;
mod nad_gate;
mod storage;
mod windows;

pub use access::Use;
pub use limits::ClusterLimits;

use std::collections::BTreeMap;

use kube::api::ListParams;
use serde_json::Value;

use super::kinds::to_value;
use super::kinds::{self, Kind};
use super::profile::Profile;
use super::retry::retrying;
use super::usable::Exclusion;
use crate::guest::os::GuestOs;
use crate::plan::{Feature, Needs};

/// Something a scenario may need from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prerequisite {
    KubeVirt,
    NmState,
    Multus,
    OvnUserDefinedNetworks,
    MigrationPolicies,
    /// `workloadUpdateMethods` includes LiveMigrate: KubeVirt migrates VMIs that need it.
    LiveMigrateUpdates,
    /// `vmRolloutStrategy: LiveUpdate`: VM changes reach running VMIs.
    LiveUpdateRollout,
    /// A NAD reference change of a running VM is live: KubeVirt v1.9+ (GA), or v1.8 with the
    /// LiveUpdateNADRef gate.
    NadRefGate,
    /// OVN-Kubernetes honours addresses requested for a primary UDN.
    PreconfiguredUdnAddresses,
    Workers(u8),
    BridgeNic,
    LocalnetNic,
    WindowsImage,
    /// The cluster preference `guest.windows_preference` names exists.
    WindowsPreference,
    /// RBAC lets the user do what these scenarios do through the API.
    Allowed(Use),
    /// A class for the scenarios' ReadWriteOnce claims: `storage.class` or a default class.
    ClaimStorage,
    /// The root disk of this OS can be live-migrated: a DataSource image is cloned onto a
    /// ReadWriteMany block class.
    RootDisk(GuestOs),
    /// The image of this OS is imported: a DataSource image is Ready.
    ImageImported(GuestOs),
}

/// What preflight found: a line per check, and the reason of each unmet prerequisite.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub report: Vec<String>,
    pub unmet: BTreeMap<Prerequisite, String>,
    /// Usable workers and KubeVirt's migration limits: what parallelism the cluster takes.
    pub limits: ClusterLimits,
}

impl Findings {
    fn check(&mut self, what: Prerequisite, met: Result<String, String>) {
        match met {
            Ok(fact) => self.report.push(format!("ok    {fact}")),
            Err(why) => {
                self.report.push(format!("unmet {why}"));
                self.unmet.insert(what, why);
            }
        }
    }

    /// Why a scenario with `needs` on `os` cannot run here, if it cannot.
    pub fn skip_reason(&self, needs: &Needs, os: GuestOs) -> Option<String> {
        let reasons: Vec<&str> = required(needs, os)
            .iter()
            .filter_map(|p| self.unmet.get(p).map(String::as_str))
            .collect();
        (!reasons.is_empty()).then(|| format!("preflight: {}", reasons.join("; ")))
    }
}

/// The prerequisites behind a scenario's needs.
pub fn required(needs: &Needs, os: GuestOs) -> Vec<Prerequisite> {
    use Prerequisite::*;
    let mut all = vec![
        KubeVirt,
        Workers(needs.workers),
        Allowed(Use::Vms),
        RootDisk(os),
        ImageImported(os),
    ];
    if needs.workers >= 2 {
        all.push(Allowed(Use::Migrations));
    }
    if needs.secondary_nics > 0 {
        all.extend([NmState, Multus, BridgeNic]);
        all.extend([Allowed(Use::NodeNetworks), Allowed(Use::SecondaryNetworks)]);
    }
    if os == GuestOs::Windows {
        all.extend([WindowsImage, WindowsPreference]);
    }
    for feature in needs.features {
        all.extend(match feature {
            Feature::LiveUpdateNadRef => vec![LiveMigrateUpdates, LiveUpdateRollout, NadRefGate],
            Feature::Localnet => vec![
                OvnUserDefinedNetworks,
                LocalnetNic,
                Allowed(Use::NodeNetworks),
            ],
            Feature::PrimaryUdn => vec![
                OvnUserDefinedNetworks,
                LiveMigrateUpdates,
                Allowed(Use::UserDefinedNetworks),
            ],
            Feature::RequestedUdnAddress => vec![
                OvnUserDefinedNetworks,
                PreconfiguredUdnAddresses,
                Allowed(Use::UserDefinedNetworks),
            ],
            Feature::NicHotplug | Feature::CpuHotplug | Feature::MemoryHotplug => {
                vec![LiveMigrateUpdates, LiveUpdateRollout]
            }
            Feature::WorkloadDisruptionPolicy => {
                vec![MigrationPolicies, Allowed(Use::MigrationPolicies)]
            }
            Feature::NodeDrain => vec![Allowed(Use::NodeDrain)],
            Feature::WindowsImage => vec![WindowsImage, WindowsPreference],
            Feature::NonMigratableStorage => vec![ClaimStorage],
        });
    }
    all.sort();
    all.dedup();
    all
}

/// Runs every check against the target.
pub async fn run(client: &kube::Client, profile: &Profile, windows_configured: bool) -> Findings {
    use Prerequisite::*;
    let mut f = Findings::default();
    let crds = [
        (KubeVirt, kinds::VM, "KubeVirt (VirtualMachine API)"),
        (
            NmState,
            kinds::NNCP,
            "kubernetes-nmstate (NodeNetworkConfigurationPolicy API)",
        ),
        (
            Multus,
            kinds::NAD,
            "Multus (NetworkAttachmentDefinition API)",
        ),
        (
            OvnUserDefinedNetworks,
            kinds::UDN,
            "OVN-Kubernetes user-defined networks (UserDefinedNetwork API)",
        ),
        (
            MigrationPolicies,
            kinds::MIGRATION_POLICY,
            "KubeVirt MigrationPolicy API",
        ),
    ];
    for (what, kind, name) in crds {
        f.check(what, served(client, kind, name).await);
    }
    let cr = kubevirt_cr(client).await;
    f.check(
        LiveMigrateUpdates,
        cr.as_ref().map_err(Clone::clone).and_then(live_migrate),
    );
    f.check(
        LiveUpdateRollout,
        cr.as_ref().map_err(Clone::clone).and_then(rollout),
    );
    let hco = nad_gate::operator(client).await;
    f.check(
        NadRefGate,
        cr.as_ref()
            .map_err(Clone::clone)
            .and_then(|cr| nad_gate::check(cr, hco.as_ref())),
    );
    f.check(
        PreconfiguredUdnAddresses,
        preconfigured_udn_addresses(client).await,
    );
    let nodes = super::usable::select(client).await;
    let count = nodes.as_ref().map_or(0, |s| s.usable.len());
    f.limits = ClusterLimits::of(cr.as_ref().ok(), count);
    match &nodes {
        Ok(s) => {
            f.report
                .push(format!("      {count} usable worker(s) {:?}", s.names()));
            f.report
                .push(format!("      excluded: {}", s.excluded_summary()));
        }
        Err(e) => f.report.push(format!("unmet {e:#}")),
    }
    let excluded = nodes
        .as_ref()
        .map_or_else(|e| format!("{e:#}"), |s| s.excluded_summary());
    for n in (1..=3u8).filter(|n| usize::from(*n) > count) {
        let why =
            format!("{n} usable workers needed, the cluster has {count} (excluded: {excluded})");
        f.unmet.insert(Workers(n), why);
    }
    let (bridge, localnet) = (super::setups::TRUNK_BRIDGE, super::setups::LOCALNET_BRIDGE);
    f.check(BridgeNic, nic_on(client, &profile.bridge_nic, bridge).await);
    f.check(
        LocalnetNic,
        nic_on(client, &profile.localnet_nic, localnet).await,
    );
    f.check(WindowsImage, windows::image(profile, windows_configured));
    if let Some(name) = &profile.windows_preference {
        f.check(WindowsPreference, windows::preference(client, name).await);
    }
    let class = profile.storage_class.as_deref();
    f.check(ClaimStorage, storage::claim_class(client, class).await);
    f.check(
        RootDisk(GuestOs::Rhel),
        storage::root_disk(client, &profile.rhel_image).await,
    );
    f.check(
        RootDisk(GuestOs::Windows),
        storage::root_disk(client, &profile.windows_image).await,
    );
    for (os, image) in [
        (GuestOs::Rhel, &profile.rhel_image),
        (GuestOs::Windows, &profile.windows_image),
    ] {
        f.check(ImageImported(os), image::imported(client, image).await);
    }
    for by in access::USES {
        f.check(Allowed(by), access::check(client, by).await);
    }
    f
}

/// Where OpenShift's network operator renders OVN-Kubernetes' configuration, and the option
/// that lets a primary UDN take a requested address (ovn-kubernetes
/// `config.OVNKubernetesFeature.EnablePreconfiguredUDNAddresses`, gcfg section
/// `[ovnkubernetesfeature]`); without it the request is ignored and the address is dynamic.
const OVNKUBE_CONFIG: (&str, &str, &str) =
    ("openshift-ovn-kubernetes", "ovnkube-config", "ovnkube.conf");
const PRECONFIGURED_UDN_ADDRESSES: &str = "enable-preconfigured-udn-addresses";

async fn preconfigured_udn_addresses(client: &kube::Client) -> Result<String, String> {
    let (ns, name, key) = OVNKUBE_CONFIG;
    let api = kinds::CONFIG_MAP.api(client, ns);
    let found = retrying(|| api.get_opt(name))
        .await
        .map_err(|e| format!("ConfigMap {ns}/{name} cannot be read: {e}"))?
        .ok_or_else(|| format!("no ConfigMap {ns}/{name}: cannot tell whether OVN-Kubernetes honours requested primary-UDN addresses"))?;
    let conf = to_value(&found)["data"][key]
        .as_str()
        .unwrap_or("")
        .to_string();
    let enabled = conf.lines().any(|l| {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        k.trim() == PRECONFIGURED_UDN_ADDRESSES && v.trim() == "true"
    });
    if enabled {
        Ok(format!(
            "OVN-Kubernetes {PRECONFIGURED_UDN_ADDRESSES}=true ({ns}/{name})"
        ))
    } else {
        Err(format!("OVN-Kubernetes has no {PRECONFIGURED_UDN_ADDRESSES}=true in {ns}/{name} {key}: requested primary-UDN addresses are ignored"))
    }
}

async fn served(client: &kube::Client, kind: Kind, name: &str) -> Result<String, String> {
    let (params, api) = (ListParams::default().limit(1), kind.all(client));
    match retrying(|| api.list(&params)).await {
        Ok(_) => Ok(format!("{name} is served")),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(format!("{name} is not installed")),
        Err(e) => Err(format!("{name} cannot be listed: {e}")),
    }
}

async fn kubevirt_cr(client: &kube::Client) -> Result<Value, String> {
    let (params, api) = (ListParams::default(), kinds::KUBEVIRT.all(client));
    let list = retrying(|| api.list(&params))
        .await
        .map_err(|e| format!("the KubeVirt CR cannot be read: {e}"))?;
    list.items
        .first()
        .map(to_value)
        .ok_or_else(|| "no KubeVirt CR exists".to_string())
}

fn live_migrate(cr: &Value) -> Result<String, String> {
    let methods = &cr["spec"]["workloadUpdateStrategy"]["workloadUpdateMethods"];
    if methods
        .as_array()
        .is_some_and(|m| m.iter().any(|x| x == "LiveMigrate"))
    {
        Ok("KubeVirt workloadUpdateMethods includes LiveMigrate".into())
    } else {
        Err(format!("KubeVirt workloadUpdateMethods is {methods}, without LiveMigrate: running VMs are not migrated to apply changes"))
    }
}

fn rollout(cr: &Value) -> Result<String, String> {
    let strategy = cr["spec"]["configuration"]["vmRolloutStrategy"]
        .as_str()
        .unwrap_or("LiveUpdate");
    if strategy == "LiveUpdate" {
        Ok("KubeVirt vmRolloutStrategy is LiveUpdate".into())
    } else {
        Err(format!("KubeVirt vmRolloutStrategy is {strategy}, not LiveUpdate: VM changes wait for a restart"))
    }
}

/// Whether enough usable workers list `nic` in their NodeNetworkState, safe to give to the
/// set-up's bridge `own` (`nic_safety`), for a set-up (a VM and a peer on two of them); the
/// workers without it, or where it is unsafe, are left out of the set-ups with the reason,
/// and when too few remain the finding names each node and what its NIC is.
async fn nic_on(client: &kube::Client, nic: &str, own: &str) -> Result<String, String> {
    let needed = usize::from(Needs::bridge(&[]).workers);
    let selection = super::usable::with_nic(client, nic, &[own])
        .await
        .map_err(|e| format!("{e:#}"))?;
    selection
        .at_least(needed, &format!("NIC {nic}"))
        .map_err(|e| format!("{e}; set the NIC names in vstp.toml"))?;
    let left_out: Vec<String> = selection
        .excluded
        .iter()
        .flat_map(|e| e.why.iter().map(move |why| (e, why)))
        .filter(|(_, why)| matches!(why, Exclusion::NoNic(_) | Exclusion::UnsafeNic(..)))
        .map(|(e, why)| format!("{}: {why}", e.name))
        .collect();
    let left_out = match left_out.is_empty() {
        true => String::new(),
        false => format!(" (left out: {})", left_out.join("; ")),
    };
    Ok(format!(
        "NIC {nic} on usable workers {:?}{left_out}",
        selection.names()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_is_skipped_only_for_what_it_needs() {
        let mut f = Findings::default();
        f.check(Prerequisite::LocalnetNic, Err("NIC eth2 missing".into()));
        let bridge = Needs::bridge(&[Feature::LiveUpdateNadRef]);
        assert_eq!(f.skip_reason(&bridge, GuestOs::Rhel), None);
        let localnet = Needs::bridge(&[Feature::Localnet]);
        assert_eq!(
            f.skip_reason(&localnet, GuestOs::Rhel).as_deref(),
            Some("preflight: NIC eth2 missing")
        );
    }
}

//! OVN-Kubernetes user-defined networks: a UserDefinedNetwork (or a ClusterUserDefinedNetwork
//! per selected namespace) becomes a NAD of the `ovn-k8s-cni-overlay` plugin, with the
//! reference's conditions. A primary Layer2 network is what the namespace's pods (and VMs
//! with the l2bridge binding) get instead of the cluster pod network; IPs stay with the VM
//! through an IPAMClaim when the lifecycle is Persistent.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde_json::{json, Value};

use super::Ctx;
use crate::faults::Fault;
use crate::kinds;
use crate::obj;

pub const PRIMARY_LABEL: &str = "k8s.ovn.org/primary-user-defined-network";
const FINALIZER: &str = "k8s.ovn.org/user-defined-network-protection";

/// The network a UDN or CUDN describes: its spec (topology and its block).
fn network_spec(object: &Value, cluster: bool) -> Value {
    if cluster {
        object["spec"]["network"].clone()
    } else {
        object["spec"].clone()
    }
}

/// What is wrong with a network spec, in OVN-K's spirit.
fn invalid(spec: &Value) -> Option<String> {
    let topology = spec["topology"].as_str().unwrap_or("");
    let block = match topology {
        "Layer2" => &spec["layer2"],
        "Layer3" => &spec["layer3"],
        "Localnet" => &spec["localnet"],
        other => {
            return Some(format!(
                "unsupported topology {other:?}: use Layer2, Layer3 or Localnet"
            ))
        }
    };
    let subnets = block["subnets"].as_array().map_or(0, |s| s.len());
    if subnets > 2 {
        return Some("at most 2 subnets, one per IP family".into());
    }
    let persistent = block["ipam"]["lifecycle"] == "Persistent";
    if persistent && block["ipam"]["mode"] == "Disabled" {
        return Some("ipam.lifecycle Persistent requires ipam.mode Enabled".into());
    }
    if topology == "Localnet"
        && (block["role"] != "Secondary" || block["physicalNetworkName"].is_null())
    {
        return Some("a Localnet network needs role Secondary and physicalNetworkName".into());
    }
    None
}

fn block(spec: &Value) -> &Value {
    match spec["topology"].as_str() {
        Some("Layer3") => &spec["layer3"],
        Some("Localnet") => &spec["localnet"],
        _ => &spec["layer2"],
    }
}

/// The NAD OVN-K writes for the network in namespace `ns`.
fn nad(owner: &Value, kind: &str, spec: &Value, ns: &str, name: &str, network: &str) -> Value {
    let b = block(spec);
    let subnets: Vec<String> = b["subnets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().or(s["cidr"].as_str()).map(String::from))
        .collect();
    let mut config = json!({"cniVersion": "1.0.0", "type": "ovn-k8s-cni-overlay", "name": network,
        "netAttachDefName": format!("{ns}/{name}"), "topology": spec["topology"].as_str().unwrap_or("Layer2").to_lowercase(),
        "role": b["role"].as_str().unwrap_or("Primary").to_lowercase(), "subnets": subnets.join(","),
        "allowPersistentIPs": b["ipam"]["lifecycle"] == "Persistent", "mtu": 1400});
    if let Some(physnet) = b["physicalNetworkName"].as_str() {
        config["physicalNetworkName"] = json!(physnet);
        config["vlanID"] = b["vlan"]["access"]["id"].clone();
    }
    json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": name, "namespace": ns, "labels": {"k8s.ovn.org/user-defined-network": ""},
                        "finalizers": [FINALIZER],
                        "ownerReferences": [{"apiVersion": "k8s.ovn.org/v1", "kind": kind, "name": obj::name(owner),
                                             "uid": obj::uid(owner), "controller": true, "blockOwnerDeletion": true}]},
           "spec": {"config": config.to_string()}})
}

fn ensure_nad(ctx: &Ctx, nad: Value) {
    let (ns, name) = (
        obj::namespace(&nad).to_string(),
        obj::name(&nad).to_string(),
    );
    if ctx.get(kinds::NADS, &ns, &name).is_none() {
        let _ = ctx.create(kinds::NADS, nad);
    }
}

fn remove_nad(ctx: &Ctx, ns: &str, name: &str) {
    if ctx.get(kinds::NADS, ns, name).is_some() {
        ctx.write(kinds::NADS, ns, name, |n| {
            obj::remove_finalizer(n, FINALIZER)
        });
        ctx.delete(kinds::NADS, ns, name);
    }
}

fn set_created(object: &mut Value, created: Result<String, String>, now: &str) {
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
        Err(why) => obj::set_condition(object, "NetworkCreated", false, "SyncError", &why, now),
    }
}

pub fn reconcile_udn(ctx: &Arc<Ctx>, ns: &str, name: &str) {
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
    let spec = network_spec(&udn, false);
    let labelled = ctx
        .get(kinds::NAMESPACES, "", ns)
        .is_some_and(|n| obj::label(&n, PRIMARY_LABEL).is_some());
    let created = match invalid(&spec) {
        Some(why) => Err(why),
        None if block(&spec)["role"] == "Primary" && !labelled => Err(format!(
            "failed to create NetworkAttachmentDefinition: the primary network requires namespace {ns} to have the label {PRIMARY_LABEL} from its creation"
        )),
        None => {
            ensure_nad(ctx, nad(&udn, "UserDefinedNetwork", &spec, ns, name, &format!("{ns}_{name}")));
            Ok("NetworkAttachmentDefinition has been created".to_string())
        }
    };
    let now = ctx.now();
    ctx.write(kinds::UDNS, ns, name, |u| {
        obj::add_finalizer(u, FINALIZER);
        set_created(u, created, &now);
    });
}

pub fn reconcile_cudn(ctx: &Arc<Ctx>, name: &str) {
    let Some(cudn) = ctx.get(kinds::CUDNS, "", name) else {
        return;
    };
    let selected: Vec<String> = ctx
        .list(kinds::NAMESPACES, None)
        .iter()
        .filter(|n| {
            !obj::deleting(n)
                && obj::label_selector_matches(&cudn["spec"]["namespaceSelector"], &obj::labels(n))
        })
        .map(|n| obj::name(n).to_string())
        .collect();
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
    let spec = network_spec(&cudn, true);
    let created = match invalid(&spec) {
        Some(why) => Err(why),
        None => {
            for ns in &selected {
                ensure_nad(
                    ctx,
                    nad(
                        &cudn,
                        "ClusterUserDefinedNetwork",
                        &spec,
                        ns,
                        name,
                        &format!("cluster_udn_{name}"),
                    ),
                );
            }
            Ok(format!(
                "NetworkAttachmentDefinition has been created in following namespaces: [{}]",
                selected.join(", ")
            ))
        }
    };
    let now = ctx.now();
    ctx.write(kinds::CUDNS, "", name, |c| {
        obj::add_finalizer(c, FINALIZER);
        set_created(c, created, &now);
    });
}

/// The primary user-defined network of namespace `ns`: (OVN network name, its NAD config).
pub fn primary_network(ctx: &Ctx, ns: &str) -> Option<(String, Value)> {
    ctx.list(kinds::NADS, Some(ns)).iter().find_map(|n| {
        let config: Value = serde_json::from_str(obj::str_at(n, "/spec/config")).ok()?;
        (config["role"] == "primary")
            .then(|| (config["name"].as_str().unwrap_or("").to_string(), config))
    })
}

/// The VM's address on a primary network: kept in the IPAMClaim `<vm>.<network>` when the
/// network has persistent IPs, else the next free one. Returns (address, prefix length).
pub fn claim_address(
    ctx: &Ctx,
    vmi: &Value,
    network: &str,
    config: &Value,
    pod: &str,
) -> Option<(IpAddr, u8)> {
    // Reading the claims in use and creating the new one must not interleave with another
    // launcher's allocation, or two VMs booting at once get the same address.
    let _one_at_a_time = ctx.ipam.lock().unwrap_or_else(|e| e.into_inner());
    let ns = obj::namespace(vmi);
    let pod_network = vmi["spec"]["networks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["pod"].is_object());
    let owner = obj::label(vmi, "vm.kubevirt.io/name").unwrap_or(obj::name(vmi));
    let claim_name = format!(
        "{owner}.{}",
        pod_network.map_or("default", |n| obj::str_at(n, "/name"))
    );
    let (base, len) = config["subnets"]
        .as_str()?
        .split(',')
        .find_map(|s| crate::guest::cloudinit::cidr(s).filter(|(ip, _)| ip.is_ipv4()))?;
    let persistent = config["allowPersistentIPs"] == true;
    let existing = ctx.get(kinds::IPAMCLAIMS, ns, &claim_name);
    // The udn-ip-changes regression: the claim is not honoured and its address is avoided.
    let lost = existing
        .as_ref()
        .filter(|_| ctx.faults.has(Fault::UdnIpChanges))
        .and_then(|c| {
            c["status"]["ips"][0]
                .as_str()
                .and_then(crate::guest::cloudinit::cidr)
        })
        .map(|(ip, _)| ip);
    if let Some(claim) = existing.filter(|_| persistent && lost.is_none()) {
        let ip = claim["status"]["ips"][0]
            .as_str()
            .and_then(crate::guest::cloudinit::cidr);
        ctx.write(kinds::IPAMCLAIMS, ns, &claim_name, |c| {
            c["status"]["ownerPod"] = json!({"name": pod})
        });
        return ip;
    }
    ctx.delete(kinds::IPAMCLAIMS, ns, &claim_name);
    let used: Vec<IpAddr> = ctx
        .list(kinds::IPAMCLAIMS, None)
        .iter()
        .filter(|c| c["spec"]["network"] == network)
        .filter_map(|c| {
            c["status"]["ips"][0]
                .as_str()
                .and_then(crate::guest::cloudinit::cidr)
                .map(|(ip, _)| ip)
        })
        .chain(lost)
        .collect();
    let IpAddr::V4(base) = base else { return None };
    let hosts = (2..(1u32 << (32 - len as u32)).saturating_sub(1))
        .map(|host| IpAddr::V4(Ipv4Addr::from(u32::from(base) + host)));
    let in_subnet: Vec<IpAddr> = hosts.collect();
    let ip = match requested(vmi) {
        Some(ip) if !in_subnet.contains(&ip) || used.contains(&ip) => {
            let why = if used.contains(&ip) {
                "is in use"
            } else {
                "is outside the network's subnet"
            };
            conflict_claim(
                ctx,
                ns,
                &claim_name,
                network,
                &format!("requested address {ip} {why}"),
            );
            return None;
        }
        Some(ip) => ip,
        None => *in_subnet.iter().find(|ip| !used.contains(ip))?,
    };
    let claim = json!({"apiVersion": "k8s.cni.cncf.io/v1alpha1", "kind": "IPAMClaim",
        "metadata": {"name": claim_name, "namespace": ns},
        "spec": {"network": network, "interface": "ovn-udn1"},
        "status": {"ips": [format!("{ip}/{len}")], "ownerPod": {"name": pod},
                   "conditions": [{"type": "IPsAllocated", "status": "True", "reason": "SuccessfulAllocation", "message": ""}]}});
    let _ = ctx.create(kinds::IPAMCLAIMS, claim);
    Some((ip, len))
}

/// The address the VM asks for with the annotation `network.kubevirt.io/addresses` (a JSON
/// list of addresses, with or without a prefix length; the first IPv4 one is used).
fn requested(vmi: &Value) -> Option<IpAddr> {
    let text = obj::annotation(vmi, "network.kubevirt.io/addresses")?;
    let list: Vec<String> = serde_json::from_str(text).ok()?;
    list.iter()
        .filter_map(|a| a.split('/').next()?.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
}

/// A claim that could not be satisfied, as OVN-K reports it.
fn conflict_claim(ctx: &Ctx, ns: &str, name: &str, network: &str, message: &str) {
    let claim = json!({"apiVersion": "k8s.cni.cncf.io/v1alpha1", "kind": "IPAMClaim",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"network": network, "interface": "ovn-udn1"},
        "status": {"ips": [], "conditions": [{"type": "IPsAllocated", "status": "False",
            "reason": "IPAddressConflict", "message": message}]}});
    let _ = ctx.create(kinds::IPAMCLAIMS, claim);
}

/// A deleted VM's claims go with it (ipam-extensions' job): the addresses are free again.
pub fn release_claims(ctx: &Ctx, ns: &str, vm: &str) {
    let prefix = format!("{vm}.");
    for claim in ctx.list(kinds::IPAMCLAIMS, Some(ns)) {
        if obj::name(&claim).starts_with(&prefix) {
            ctx.delete(kinds::IPAMCLAIMS, ns, obj::name(&claim));
        }
    }
}

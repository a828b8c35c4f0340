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
    crate::world::ovnk::publish(&ctx.store);
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
    let ip = match requested(ctx, ns, pod, config) {
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

/// The IPv4 address the launcher pod `pod` asks for on the primary network: ovn-kubernetes
/// (master) go-controller/pkg/util/multi_network.go `GetPodNADToNetworkMappingWithActiveNetwork`
/// (`overrideActiveNSEWithDefaultNSE`) moves the `ips` of the pod's default-network selection
/// to the primary network only when `IsPreconfiguredUDNAddressesEnabled` and only on Layer2;
/// otherwise the address is allocated as if none was asked for.
fn requested(ctx: &Ctx, ns: &str, pod: &str, config: &Value) -> Option<IpAddr> {
    if config["topology"] != "layer2"
        || !crate::world::ovnk::preconfigured_udn_addresses(&ctx.store)
    {
        return None;
    }
    let pod = ctx.get(kinds::PODS, ns, pod)?;
    let selections: Vec<Value> =
        serde_json::from_str(obj::annotation(&pod, MULTUS_DEFAULT_NETWORK)?).ok()?;
    selections
        .first()?
        .get("ips")?
        .as_array()?
        .iter()
        .filter_map(|ip| crate::guest::cloudinit::cidr(ip.as_str()?))
        .map(|(ip, _)| ip)
        .find(IpAddr::is_ipv4)
}

/// The name of ipam-extensions' pod webhook (kubevirt/ipam-extensions config/webhook/
/// manifests.yaml).
const IPAM_CLAIMS_WEBHOOK: &str = "ipam-claims.k8s.cni.cncf.io";
const MULTUS_DEFAULT_NETWORK: &str = "v1.multus-cni.io/default-network";
const ADDRESSES: &str = "network.kubevirt.io/addresses";
/// OVN-K's default-network NAD lives in its config namespace on OpenShift, the namespace
/// ipam-extensions is started with (`--default-network-nad-namespace`).
const DEFAULT_NETWORK_NAD_NAMESPACE: &str = crate::world::ovnk::NAMESPACE;

/// ipam-extensions' mutating webhook on the launcher pod `pod` of `vmi` (failurePolicy Fail):
/// kubevirt/ipam-extensions (main) pkg/ipamclaimswebhook/podmutator.go `Handle`. In a namespace
/// whose primary network has persistent IPs, the VMI's pod-network interface gets its IPAMClaim
/// reference and requested addresses in the pod's default-network selection. A refusal is the
/// API server's message for it (k8s.io/apiserver admission/plugin/webhook/errors
/// `ToStatusErr`: the webhook answered `admission.Errored(500, err)`).
pub fn ipam_claims_webhook(ctx: &Ctx, vmi: &Value, pod: &mut Value) -> Result<(), String> {
    let ns = obj::namespace(vmi);
    let Some((_, config)) = primary_network(ctx, ns) else {
        return Ok(());
    };
    // `findPrimaryUDNInterface`: nothing without persistent IPs or a pod-network interface.
    if config["allowPersistentIPs"] != true {
        return Ok(());
    }
    let Some(network) = vmi["spec"]["networks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["pod"].is_object())
    else {
        return Ok(());
    };
    // `vmiNetworkInterface`: every interface of the spec, whatever its state.
    let Some(iface) = vmi["spec"]["domain"]["devices"]["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["name"] == network["name"])
    else {
        return Ok(());
    };
    let iface_name = obj::str_at(iface, "/name");
    let subnets = config["subnets"].as_str().unwrap_or("");
    let ips = vmi_interface_ip_requests(vmi, iface_name, subnets).map_err(|e| {
        format!("admission webhook \"{IPAM_CLAIMS_WEBHOOK}\" denied the request: {e}")
    })?;
    let claim = format!("{}.{iface_name}", obj::name(vmi));
    let mac = obj::str_at(iface, "/macAddress");
    let annotations = obj::ensure(pod, "/metadata/annotations");
    if !ips.is_empty() || !mac.is_empty() {
        // multusDefaultNetworkAnnotation: a NetworkSelectionElement, empty fields omitted.
        let mut selection = json!({"name": "default", "namespace": DEFAULT_NETWORK_NAD_NAMESPACE});
        if !ips.is_empty() {
            selection["ips"] = json!(ips);
        }
        if !mac.is_empty() {
            selection["mac"] = json!(mac);
        }
        selection["ipam-claim-reference"] = json!(claim);
        annotations[MULTUS_DEFAULT_NETWORK] = json!(json!([selection]).to_string());
    }
    annotations["k8s.ovn.org/primary-udn-ipamclaim"] = json!(claim);
    Ok(())
}

/// kubevirt/ipam-extensions (main) pkg/ips/primarynetwork.go `VmiInterfaceIPRequests`: the
/// VMI's `network.kubevirt.io/addresses` is a JSON map from interface name to bare IPs; those of
/// `iface` get the prefix length of the network's first subnet of their family. Other keys are
/// ignored.
fn vmi_interface_ip_requests(
    vmi: &Value,
    iface: &str,
    subnets: &str,
) -> Result<Vec<String>, String> {
    let Some(text) = obj::annotation(vmi, ADDRESSES) else {
        return Ok(Vec::new());
    };
    let mut addrs = go_unmarshal_addresses(text)?;
    let subnets: Vec<&str> = subnets
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut by_family: [Vec<&str>; 2] = [Vec::new(), Vec::new()];
    for subnet in &subnets {
        match crate::guest::cloudinit::cidr(subnet) {
            Some((ip, _)) => by_family[usize::from(ip.is_ipv6())].push(subnet),
            None => return Err(format!("invalid subnet format: {subnet}")),
        }
    }
    let mut result = Vec::new();
    for ip in addrs.remove(iface).unwrap_or_default() {
        // net.ParseIP: an IPv4-mapped IPv6 address counts as IPv4 (To4).
        let v4 = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => true,
            Ok(IpAddr::V6(a)) => a.to_ipv4_mapped().is_some(),
            Err(_) => return Err(format!("invalid IP address format: {ip}")),
        };
        let (family, name) = if v4 { (0, "IPv4") } else { (1, "IPv6") };
        let Some(subnet) = by_family[family].first() else {
            return Err(format!(
                "no {name} subnet configured for {name} IP request: {ip}"
            ));
        };
        let len = subnet.split_once('/').map_or("", |(_, l)| l);
        result.push(format!("{ip}/{len}"));
    }
    Ok(result)
}

/// Go's `json.Unmarshal` of `text` into `map[string][]string`, with Go's error texts for the
/// type mismatches (no field context: Go adds none for map entries). Syntax errors carry Go's
/// wording for the common cases only.
fn go_unmarshal_addresses(
    text: &str,
) -> Result<std::collections::BTreeMap<String, Vec<String>>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let first = text.trim_start().chars().next();
        match first {
            None => "unexpected end of JSON input".to_string(),
            Some(c) if !matches!(c, '{' | '[' | '"' | '-' | '0'..='9' | 't' | 'f' | 'n') => {
                format!("invalid character '{c}' looking for beginning of value")
            }
            _ if e.is_eof() => "unexpected end of JSON input".to_string(),
            _ => format!("invalid JSON: {e}"),
        }
    })?;
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let mismatch = |v: &Value, ty: &str| {
        format!(
            "json: cannot unmarshal {} into Go value of type {ty}",
            kind(v)
        )
    };
    let mut out = std::collections::BTreeMap::new();
    let entries = match &value {
        Value::Null => return Ok(out),
        Value::Object(entries) => entries,
        other => return Err(mismatch(other, "map[string][]string")),
    };
    // Go decodes on after a type mismatch and reports the first one (here in key order).
    let mut first_error = None;
    for (key, list) in entries {
        let ips = match list {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .filter_map(|item| match item {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => Some(String::new()),
                    other => {
                        first_error.get_or_insert_with(|| mismatch(other, "string"));
                        None
                    }
                })
                .collect(),
            other => {
                first_error.get_or_insert_with(|| mismatch(other, "[]string"));
                continue;
            }
        };
        out.insert(key.clone(), ips);
    }
    first_error.map_or(Ok(out), Err)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(addresses: &str, subnets: &str) -> Result<Vec<String>, String> {
        let vmi = json!({"metadata": {"annotations": {ADDRESSES: addresses}}});
        vmi_interface_ip_requests(&vmi, "default", subnets)
    }

    #[test]
    fn the_pod_network_interface_gets_its_bare_ips_with_the_subnet_prefix() {
        let both = "10.100.0.0/16,fd00:10::/64";
        assert_eq!(
            requests(
                r#"{"default":["10.100.0.200","fd00:10::5"],"other":["1.2.3.4"]}"#,
                both
            ),
            Ok(vec![
                "10.100.0.200/16".to_string(),
                "fd00:10::5/64".to_string()
            ])
        );
        assert_eq!(requests(r#"{"nic0":["10.100.0.200"]}"#, both), Ok(vec![]));
        assert_eq!(requests("null", both), Ok(vec![]));
    }

    #[test]
    fn go_errors_for_what_is_not_a_map_of_bare_ips() {
        let v4 = "10.100.0.0/16";
        assert_eq!(
            requests(r#"["10.100.0.200"]"#, v4),
            Err("json: cannot unmarshal array into Go value of type map[string][]string".into())
        );
        assert_eq!(
            requests(r#"{"default":"10.100.0.200"}"#, v4),
            Err("json: cannot unmarshal string into Go value of type []string".into())
        );
        assert_eq!(
            requests(r#"{"default":["10.100.0.200/24"]}"#, v4),
            Err("invalid IP address format: 10.100.0.200/24".into())
        );
        assert_eq!(
            requests(r#"{"default":["fd00:10::5"]}"#, v4),
            Err("no IPv6 subnet configured for IPv6 IP request: fd00:10::5".into())
        );
        assert_eq!(
            requests("garbage", v4),
            Err("invalid character 'g' looking for beginning of value".into())
        );
    }
}

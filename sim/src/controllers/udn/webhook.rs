//! ipam-extensions' pod webhook: the launcher pod's default-network selection carries the
//! VMI's IPAMClaim reference and requested addresses on its namespace's primary network.

use std::net::IpAddr;

use serde_json::{json, Value};

use super::super::Ctx;
use crate::obj;

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
    // pkg/udn/primary_network.go `FindPrimaryNetwork`: any NAD of role primary.
    let Some(config) = super::nads::primary_nad(ctx, ns).and_then(|n| super::nads::nad_config(&n))
    else {
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
    let claim = super::claims::compose_key(obj::name(vmi), iface_name);
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
    annotations[super::ipam::CLAIM_ANNOTATION] = json!(claim);
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

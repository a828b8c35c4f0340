//! virt-launcher pods and what the guest sees of its VMI's interfaces.

use std::net::IpAddr;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Ctx;
use crate::guest::cloudinit::GuestConfig;
use crate::guest::Nic;
use crate::obj;
use crate::quantity;

pub const LAUNCHER_IMAGE: &str =
    "registry.redhat.io/container-native-virtualization/virt-launcher-rhel9:v4.22.0";

/// Memory the launcher needs on top of the guest's.
const OVERHEAD: u64 = 256 << 20;

/// vCPUs of a VMI spec (sockets × cores × threads).
pub fn vcpus(spec: &Value) -> u64 {
    let cpu = &spec["domain"]["cpu"];
    let get = |k: &str| cpu[k].as_u64().unwrap_or(1).max(1);
    get("sockets") * get("cores") * get("threads")
}

/// Guest memory of a VMI spec in bytes.
pub fn guest_memory(spec: &Value) -> u64 {
    quantity::of(&spec["domain"]["memory"]["guest"])
        .or_else(|| quantity::of(&spec["domain"]["resources"]["requests"]["memory"]))
        .unwrap_or(quantity::GIB) as u64
}

/// `pod` + the first 11 hex digits of sha256(network name): the pod interface of a secondary
/// network.
pub fn pod_interface_name(network: &str) -> String {
    let digest = Sha256::digest(network.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("pod{}", &hex[..11])
}

/// A random locally administered unicast MAC, for interfaces KubeMacPool leaves alone.
pub fn random_mac() -> String {
    let b: [u8; 5] = rand::random();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

/// The VMI's networks by name.
fn network<'a>(vmi: &'a Value, name: &str) -> Option<&'a Value> {
    vmi["spec"]["networks"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)
}

/// Names of the networks of a VM or VMI spec that are the pod network.
pub fn pod_networks(spec: &Value) -> Vec<&str> {
    spec["networks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["pod"].is_object())
        .filter_map(|n| n["name"].as_str())
        .collect()
}

/// Interfaces present in the VMI spec (`state: absent` ones are on their way out).
pub fn interfaces(vmi: &Value) -> Vec<Value> {
    vmi["spec"]["domain"]["devices"]["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["state"] != "absent")
        .cloned()
        .collect()
}

/// The networks a launcher pod attaches: those of interfaces not marked absent
/// (kubevirt/kubevirt pkg/network/pod/annotations/generator.go, v1.9.0).
fn attached_networks(vmi: &Value) -> Vec<&Value> {
    let absent: Vec<&Value> = vmi["spec"]["domain"]["devices"]["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["state"] == "absent")
        .map(|i| &i["name"])
        .collect();
    let nets = vmi["spec"]["networks"].as_array().into_iter().flatten();
    nets.filter(|n| !absent.contains(&&n["name"])).collect()
}

/// `ns/name` of a multus network reference (a bare name is in the VMI's namespace).
pub fn nad_name(vmi: &Value, net: &Value) -> Option<String> {
    let name = net["multus"]["networkName"].as_str()?;
    Some(if name.contains('/') {
        name.to_string()
    } else {
        format!("{}/{}", obj::namespace(vmi), name)
    })
}

/// The launcher pod for `vmi`; `migration` names the VMIM when this is a migration target.
pub fn pod(vmi: &Value, migration: Option<(&str, &str)>) -> Value {
    let name = obj::name(vmi);
    let spec = &vmi["spec"];
    let cpu = vcpus(spec) * 100;
    let memory = guest_memory(spec) + OVERHEAD;
    let mut labels = obj::labels(vmi);
    labels.insert("kubevirt.io".into(), json!("virt-launcher"));
    labels.insert("kubevirt.io/created-by".into(), json!(obj::uid(vmi)));
    labels.insert("vm.kubevirt.io/name".into(), json!(name));
    labels.remove("kubevirt.io/nodeName");
    labels.remove("kubevirt.io/migrationTargetNodeName");
    let mut annotations =
        json!({"kubevirt.io/domain": name, "kubevirt.io/migrationTransportUnix": "true"});
    let multus: Vec<Value> = attached_networks(vmi).into_iter().filter_map(|n| {
        let nad = nad_name(vmi, n)?;
        let (ns, nad) = nad.split_once('/')?;
        Some(json!({"name": nad, "namespace": ns, "interface": pod_interface_name(obj::str_at(n, "/name"))}))
    }).collect();
    if !multus.is_empty() {
        annotations["k8s.v1.cni.cncf.io/networks"] = json!(Value::Array(multus).to_string());
    }
    if let Some((vmim_name, vmim_uid)) = migration {
        labels.insert("kubevirt.io/migrationJobUID".into(), json!(vmim_uid));
        annotations["kubevirt.io/migrationJobName"] = json!(vmim_name);
    }
    let mut node_selector = spec["nodeSelector"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    node_selector.insert("kubevirt.io/schedulable".into(), json!("true"));
    let resources = json!({"cpu": quantity::cpu(cpu), "memory": quantity::bytes(memory)});
    json!({
        "metadata": {
            "generateName": format!("virt-launcher-{name}-"), "namespace": obj::namespace(vmi),
            "labels": labels, "annotations": annotations,
            "ownerReferences": [{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance", "name": name,
                                 "uid": obj::uid(vmi), "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": {
            "nodeSelector": node_selector, "affinity": spec["affinity"], "tolerations": spec["tolerations"],
            "containers": [{"name": "compute", "image": LAUNCHER_IMAGE,
                            "resources": {"requests": resources, "limits": resources}}],
            "restartPolicy": "Never", "schedulerName": "default-scheduler", "serviceAccountName": "default",
            "hostname": spec["hostname"].as_str().unwrap_or(name), "terminationGracePeriodSeconds": 210,
        },
        "status": {"phase": "Pending", "qosClass": "Guaranteed"}
    })
}

/// The next pod IP on `node` (each node has a /23 of 10.128.0.0/14, as OVN-K gives them).
pub fn next_pod_ip(ctx: &Ctx, node: &str) -> String {
    let index = node
        .rsplit('-')
        .next()
        .and_then(|i| i.parse::<u32>().ok())
        .unwrap_or(0);
    let mut state = ctx.state();
    let n = state.pod_ips.entry(node.to_string()).or_insert(4);
    *n += 1;
    let host = *n;
    format!(
        "10.{}.{}.{}",
        128 + (index / 128),
        (index % 128) * 2 + host / 250,
        host % 250 + 2
    )
}

/// What the pod network is for a VMI: the cluster network, or its namespace's primary
/// user-defined network.
#[derive(Debug, Clone)]
pub struct PodNetwork {
    /// The address others reach the VM at (pod IP, or its UDN IP).
    pub ip: String,
    pub segment: String,
    /// The address the guest itself holds when its interface is bridged onto the network
    /// (l2bridge / passt on a primary UDN); `None` behind masquerade NAT.
    pub bridged: Option<(IpAddr, u8)>,
    /// `ns/name` of the primary UDN's NAD, if any.
    pub udn_nad: Option<String>,
    /// The address of the launcher pod's node, which traffic leaving the cluster is
    /// translated to.
    pub egress: Option<IpAddr>,
}

/// The Multus network-status annotation of a running launcher pod.
pub fn network_status(vmi: &Value, pod_ip: &str, pod: &PodNetwork) -> String {
    let mut list = vec![
        json!({"name": "ovn-kubernetes", "interface": "eth0", "ips": [pod_ip],
                               "mac": "0a:58:0a:80:00:05", "default": pod.udn_nad.is_none(), "dns": {}}),
    ];
    if let Some(nad) = &pod.udn_nad {
        list.push(json!({"name": nad, "interface": "ovn-udn1", "ips": [pod.ip], "mac": random_mac(), "default": true, "dns": {}}));
    }
    for net in attached_networks(vmi) {
        if let Some(nad) = nad_name(vmi, net) {
            list.push(
                json!({"name": nad, "interface": pod_interface_name(obj::str_at(net, "/name")),
                             "mac": random_mac(), "dns": {}}),
            );
        }
    }
    Value::Array(list).to_string()
}

/// Each interface's MAC: the spec's (KubeMacPool fills masquerade and Multus ones), else the one
/// an existing guest NIC of that network has, else a fresh one.
pub fn macs(vmi: &Value, existing: &[Nic]) -> Vec<String> {
    interfaces(vmi)
        .iter()
        .map(|i| {
            i["macAddress"]
                .as_str()
                .map(str::to_lowercase)
                .or_else(|| {
                    existing
                        .iter()
                        .find(|n| n.network == obj::str_at(i, "/name"))
                        .map(|n| n.mac.clone())
                })
                .unwrap_or_else(random_mac)
        })
        .collect()
}

/// The guest's NICs: one per VMI interface, in order, named as the guest OS names them.
pub fn guest_nics(
    vmi: &Value,
    macs: &[String],
    pod: &PodNetwork,
    config: &GuestConfig,
    windows: bool,
    segments: &std::collections::HashMap<String, String>,
) -> Vec<Nic> {
    interfaces(vmi)
        .iter()
        .zip(macs)
        .enumerate()
        .map(|(i, (iface, mac))| {
            let name = match (windows, i) {
                (true, 0) => "Ethernet".to_string(),
                (true, i) => format!("Ethernet {}", i + 1),
                (false, i) => format!("eth{i}"),
            };
            let net_name = obj::str_at(iface, "/name").to_string();
            let net = network(vmi, &net_name).cloned().unwrap_or(Value::Null);
            let on_pod = net["pod"].is_object();
            let (addrs, segment, reachable_at): (Vec<(IpAddr, u8)>, String, Vec<IpAddr>) = if on_pod
            {
                let guest = match pod.bridged {
                    Some(lease) => super::udn::dhcp::guest_addresses(config, &name, mac, lease),
                    None => vec![
                        ("10.0.2.2".parse().expect("an IP"), 24),
                        ("fd10:0:2::2".parse().expect("an IP"), 120),
                    ],
                };
                (
                    guest,
                    pod.segment.clone(),
                    pod.ip.parse().into_iter().collect(),
                )
            } else {
                let addrs = config
                    .addresses
                    .get(&name)
                    .or_else(|| config.addresses.get(mac))
                    .cloned()
                    .unwrap_or_default();
                let segment = segments.get(&net_name).cloned().unwrap_or_default();
                let at = addrs.iter().map(|(a, _)| *a).collect();
                (addrs, segment, at)
            };
            Nic {
                name,
                network: net_name,
                mac: mac.clone(),
                addrs,
                segment,
                stale_segment: None,
                stale_from: None,
                port_security: pod
                    .bridged
                    .filter(|_| on_pod)
                    .map(|(allocated, _)| vec![allocated]),
                egress: pod.egress.filter(|_| on_pod),
                reachable_at,
                up: iface["state"] != "down",
                misdirected: false,
                node: String::new(),
                handover: None,
            }
        })
        .collect()
}

/// `status.interfaces` of a running VMI: from the domain, then (once the agent runs) the
/// guest's addresses.
pub fn status_interfaces(vmi: &Value, nics: &[Nic], agent: bool, pod_ip: &str) -> Value {
    let list: Vec<Value> = interfaces(vmi)
        .iter()
        .zip(nics)
        .map(|(iface, nic)| status_entry(vmi, iface, nic, agent, pod_ip))
        .collect();
    Value::Array(list)
}

/// The status entry of one interface and the guest NIC on it.
pub fn status_entry(vmi: &Value, iface: &Value, nic: &Nic, agent: bool, pod_ip: &str) -> Value {
    let secondary = !network(vmi, &nic.network).is_some_and(|n| n["pod"].is_object());
    let mut sources = vec!["domain"];
    if agent {
        sources.push("guest-agent");
    }
    if secondary {
        sources.push("multus-status");
    }
    let mut entry = json!({"name": obj::str_at(iface, "/name"), "mac": nic.mac, "infoSource": sources.join(", "),
        "queueCount": 1, "linkState": if nic.up { "up" } else { "down" },
        "podInterfaceName": if secondary { pod_interface_name(&nic.network) } else { super::udn::primary_pod_interface(&nic.segment).to_string() }});
    if agent {
        entry["interfaceName"] = json!(nic.name);
        let ips: Vec<String> = if secondary {
            nic.addrs.iter().map(|(a, _)| a.to_string()).collect()
        } else {
            vec![pod_ip.to_string()]
        };
        if let Some(first) = ips.first() {
            entry["ipAddress"] = json!(first);
            entry["ipAddresses"] = json!(ips);
        }
    }
    entry
}

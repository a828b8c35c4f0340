//! OVN-Kubernetes' configuration as OpenShift publishes it: the cluster-network-operator renders
//! `ovnkube.conf` (gcfg) into ConfigMap `openshift-ovn-kubernetes/ovnkube-config`, read by every
//! ovnkube process. The world reads its feature switches from there, so that editing the
//! ConfigMap changes what OVN-K does next.

use serde_json::{json, Value};

use crate::kinds;
use crate::store::{Scope, Store};

pub const NAMESPACE: &str = "openshift-ovn-kubernetes";
pub const NAME: &str = "ovnkube-config";
pub const KEY: &str = "ovnkube.conf";

/// openshift/cluster-network-operator bindata/network/ovn-kubernetes/self-hosted/common/
/// 004-config.yaml, trimmed to what the simulated cluster models; the [ovnkubernetesfeature]
/// lines are those CNO renders with the NetworkSegmentation and PreconfiguredUDNAddresses
/// feature gates on.
const OVNKUBE_CONF: &str = r#"[default]
mtu="1400"
cluster-subnets="10.128.0.0/14/23"
encap-port="6081"

[kubernetes]
service-cidrs="172.30.0.0/16"
ovn-config-namespace="openshift-ovn-kubernetes"
host-network-namespace="openshift-host-network"

[ovnkubernetesfeature]
enable-egress-ip=true
enable-egress-firewall=true
enable-egress-qos=true
enable-egress-service=true
enable-multi-network=true
enable-network-segmentation=true
enable-preconfigured-udn-addresses=true

[gateway]
mode=shared
nodeport=true
"#;

pub fn config_map() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": NAME, "namespace": NAMESPACE},
           "data": {KEY: OVNKUBE_CONF}})
}

/// Publishes the namespace and the ConfigMap unless they exist (a user's edit stays).
pub fn publish(store: &Store) {
    if store.get(kinds::CONFIGMAPS, NAMESPACE, NAME).is_some() {
        return;
    }
    if store.get(kinds::NAMESPACES, "", NAMESPACE).is_none() {
        let ns = json!({"metadata": {"name": NAMESPACE}});
        let _ = store.create(kinds::NAMESPACES, ns, Scope::All, false);
    }
    let _ = store.create(kinds::CONFIGMAPS, config_map(), Scope::All, false);
}

/// ovn-kubernetes/ovn-kubernetes (master) go-controller/pkg/util/multi_network.go
/// `IsPreconfiguredUDNAddressesEnabled`: enable-multi-network, enable-network-segmentation and
/// enable-preconfigured-udn-addresses of [ovnkubernetesfeature] (each false when left out, as
/// config.go defaults them). No ConfigMap yet means the one [`publish`] writes.
pub fn preconfigured_udn_addresses(store: &Store) -> bool {
    let published = store.get(kinds::CONFIGMAPS, NAMESPACE, NAME);
    let text = published
        .as_ref()
        .map_or(OVNKUBE_CONF, |c| c["data"][KEY].as_str().unwrap_or(""));
    [
        "enable-multi-network",
        "enable-network-segmentation",
        "enable-preconfigured-udn-addresses",
    ]
    .iter()
    .all(|key| feature(text, key))
}

/// A boolean of section [ovnkubernetesfeature] in gcfg text: names are case-insensitive, a
/// name without `=` is true, the last assignment wins, `;` and `#` start comments.
fn feature(text: &str, key: &str) -> bool {
    let mut section = String::new();
    let mut value = false;
    for line in text.lines() {
        let line = line.split([';', '#']).next().unwrap_or("").trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_ascii_lowercase();
            continue;
        }
        if section != "ovnkubernetesfeature" {
            continue;
        }
        let (name, given) = match line.split_once('=') {
            Some((name, given)) => (name.trim(), Some(given.trim().trim_matches('"'))),
            None => (line, None),
        };
        if name.eq_ignore_ascii_case(key) {
            value = given.is_none_or(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1")
            });
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_config_enables_preconfigured_udn_addresses() {
        assert!(feature(OVNKUBE_CONF, "enable-preconfigured-udn-addresses"));
        assert!(!feature(OVNKUBE_CONF, "enable-route-advertisements"));
    }

    #[test]
    fn gcfg_booleans() {
        let conf = "[default]\nenable-x=true\n[OVNKubernetesFeature]\nenable-x\nenable-y=false ; off\nENABLE-Z = \"yes\"\n";
        assert!(feature(conf, "enable-x"));
        assert!(!feature(conf, "enable-y"));
        assert!(feature(conf, "enable-z"));
        assert!(!feature("[default]\nenable-x=true\n", "enable-x"));
    }
}

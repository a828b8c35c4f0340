//! Discovery documents (`/version`, `/api`, `/apis`, group and resource lists) in the legacy
//! (unaggregated) format, which kubectl and kube-rs both fall back to.

use serde_json::{json, Value};

use super::path::{VIRT_GROUP, VIRT_VERSIONS};
use crate::kinds::{self, Kind};

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-vstp-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-22T00:00:00Z",
        "goVersion": "n/a",
        "compiler": "vstp-sim",
        "platform": "linux/amd64"
    })
}

pub fn core_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]
    })
}

fn group_json(name: &str, versions: &[&str]) -> Value {
    let gv = |v: &str| json!({"groupVersion": format!("{name}/{v}"), "version": v});
    json!({
        "name": name,
        "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
        "preferredVersion": gv(versions[0]),
    })
}

fn all_groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups = kinds::groups();
    groups.push((VIRT_GROUP, VIRT_VERSIONS.to_vec()));
    groups
}

pub fn groups() -> Value {
    let groups: Vec<Value> = all_groups()
        .iter()
        .map(|(name, versions)| group_json(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(name: &str) -> Option<Value> {
    let (name, versions) = all_groups().into_iter().find(|(g, _)| *g == name)?;
    let mut g = group_json(name, &versions);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

fn resource(kind: &Kind) -> Value {
    json!({
        "name": kind.plural,
        "singularName": kind.singular,
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": if kind.review { &["create"] } else { VERBS },
        "shortNames": kind.short_names,
        "categories": kind.categories,
    })
}

fn subresource(kind: &Kind, sub: &str, verbs: &[&str]) -> Value {
    json!({
        "name": format!("{}/{sub}", kind.plural),
        "singularName": "",
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": verbs,
    })
}

/// The entries of one kind: the resource and its subresources.
fn entries(kind: &Kind) -> Vec<Value> {
    let mut out = vec![resource(kind)];
    if kind.status {
        out.push(subresource(kind, "status", STATUS_VERBS));
    }
    match kind.kind {
        "Pod" => out.push(json!({
            "name": "pods/eviction", "singularName": "", "namespaced": true,
            "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]
        })),
        "Namespace" => out.push(subresource(kind, "finalize", &["update"])),
        _ => {}
    }
    out
}

/// The KubeVirt subresources vstp-sim routes to the simulated world.
fn virt_entries() -> Vec<Value> {
    let e = |name: &str, verbs: &[&str]| json!({"name": name, "singularName": "", "namespaced": true, "kind": "", "verbs": verbs});
    vec![
        e("virtualmachineinstances/portforward", &["get"]),
        e("virtualmachineinstances/console", &["get"]),
        e("virtualmachineinstances/guestosinfo", &["get"]),
        e("virtualmachineinstances/pause", &["update"]),
        e("virtualmachineinstances/unpause", &["update"]),
        e("virtualmachines/start", &["update"]),
        e("virtualmachines/stop", &["update"]),
        e("virtualmachines/restart", &["update"]),
        e("virtualmachines/migrate", &["update"]),
    ]
}

pub fn resources(group: &str, version: &str) -> Value {
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let resources: Vec<Value> = if group == VIRT_GROUP {
        virt_entries()
    } else {
        kinds::KINDS
            .iter()
            .filter(|k| k.group == group && k.serves(version))
            .flat_map(entries)
            .collect()
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

//! Request paths of the Kubernetes API, parsed into what they address.

use crate::kinds::{self, KindId};

/// The two resources KubeVirt's subresource API group acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtResource {
    VirtualMachine,
    VirtualMachineInstance,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    CoreVersions,
    Groups,
    Group(String),
    Resources {
        group: String,
        version: String,
    },
    Collection {
        kind: KindId,
        version: String,
        namespace: Option<String>,
    },
    Object {
        kind: KindId,
        version: String,
        namespace: Option<String>,
        name: String,
        /// `status`, `eviction`, `finalize`, …
        subresource: Option<String>,
    },
    /// `/apis/subresources.kubevirt.io/{v1,v1alpha3}/namespaces/{ns}/{vms,vmis}/{name}/{action}/…`
    Virt {
        namespace: String,
        resource: VirtResource,
        name: String,
        action: String,
        rest: Vec<String>,
    },
    /// `/openapi/v2`
    OpenApiV2,
    /// Other OpenAPI documents (v3), which vstp-sim does not serve.
    OpenApi,
    NotFound,
}

/// One addressed object.
pub struct Target {
    pub kind: KindId,
    pub version: String,
    pub namespace: String,
    pub name: String,
}

pub const VIRT_GROUP: &str = "subresources.kubevirt.io";
pub const VIRT_VERSIONS: &[&str] = &["v1", "v1alpha3"];

pub fn parse(path: &str) -> Route {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match segments.as_slice() {
        ["version"] => Route::Version,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", ..] => Route::OpenApi,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["api", version, rest @ ..] => resource_path("", version, rest),
        ["apis", group] => Route::Group(group.to_string()),
        ["apis", group, version, rest @ ..] if *group == VIRT_GROUP => virt_path(version, rest),
        ["apis", group, version, rest @ ..] => resource_path(group, version, rest),
        _ => Route::NotFound,
    }
}

fn virt_path(version: &str, rest: &[&str]) -> Route {
    if !VIRT_VERSIONS.contains(&version) {
        return Route::NotFound;
    }
    match rest {
        [] => Route::Resources {
            group: VIRT_GROUP.into(),
            version: version.into(),
        },
        ["namespaces", ns, resource, name, action, tail @ ..] => {
            let resource = match *resource {
                "virtualmachines" => VirtResource::VirtualMachine,
                "virtualmachineinstances" => VirtResource::VirtualMachineInstance,
                _ => return Route::NotFound,
            };
            Route::Virt {
                namespace: ns.to_string(),
                resource,
                name: name.to_string(),
                action: action.to_string(),
                rest: tail.iter().map(|s| s.to_string()).collect(),
            }
        }
        _ => Route::NotFound,
    }
}

/// Subresources of stored objects the API serves (KubeVirt's live in their own group).
const SUBRESOURCES: &[&str] = &["status", "eviction", "finalize", "log"];

fn resource_path(group: &str, version: &str, rest: &[&str]) -> Route {
    let kind = |plural: &str| kinds::find(group, version, plural);
    let namespaced = |plural: &str| kind(plural).filter(|k| kinds::get(*k).namespaced);
    let version = version.to_string();
    let object = |kind, namespace: Option<&str>, name: &str, sub: Option<&str>| Route::Object {
        kind,
        version: version.clone(),
        namespace: namespace.map(String::from),
        name: name.to_string(),
        subresource: sub.map(String::from),
    };
    match rest {
        [] if kinds::KINDS
            .iter()
            .any(|k| k.group == group && k.serves(&version)) =>
        {
            Route::Resources {
                group: group.into(),
                version,
            }
        }
        ["namespaces", ns, plural, tail @ ..] if namespaced(plural).is_some() => {
            let kind = namespaced(plural).expect("checked");
            match tail {
                [] => Route::Collection {
                    kind,
                    version,
                    namespace: Some(ns.to_string()),
                },
                [name] => object(kind, Some(ns), name, None),
                [name, sub] if SUBRESOURCES.contains(sub) => {
                    object(kind, Some(ns), name, Some(sub))
                }
                _ => Route::NotFound,
            }
        }
        [plural, tail @ ..] => match (kind(plural), tail) {
            (Some(kind), []) => Route::Collection {
                kind,
                version,
                namespace: None,
            },
            (Some(kind), [name]) if !kinds::get(kind).namespaced => object(kind, None, name, None),
            (Some(kind), [name, sub])
                if !kinds::get(kind).namespaced && SUBRESOURCES.contains(sub) =>
            {
                object(kind, None, name, Some(sub))
            }
            _ => Route::NotFound,
        },
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_and_group_paths() {
        assert_eq!(parse("/version"), Route::Version);
        assert_eq!(parse("/api"), Route::CoreVersions);
        assert!(matches!(parse("/api/v1"), Route::Resources { .. }));
        assert!(matches!(
            parse("/api/v1/namespaces/default/pods/p/eviction"),
            Route::Object { kind: kinds::PODS, subresource: Some(s), .. } if s == "eviction"
        ));
        assert!(matches!(
            parse("/api/v1/namespaces/ns1"),
            Route::Object {
                kind: kinds::NAMESPACES,
                namespace: None,
                ..
            }
        ));
        assert!(matches!(
            parse("/api/v1/namespaces/ns1/status"),
            Route::Object {
                kind: kinds::NAMESPACES,
                subresource: Some(_),
                ..
            }
        ));
        assert!(matches!(
            parse("/api/v1/pods"),
            Route::Collection {
                namespace: None,
                ..
            }
        ));
        assert!(matches!(
            parse("/apis/nmstate.io/v1beta1/nodenetworkconfigurationpolicies/br1"),
            Route::Object {
                namespace: None,
                ..
            }
        ));
        assert_eq!(
            parse("/apis/kubevirt.io/v2/virtualmachines"),
            Route::NotFound
        );
        assert_eq!(parse("/api/v1/namespaces/n/vms"), Route::NotFound);
        assert_eq!(parse("/api/v1/nodes/a/b/c"), Route::NotFound);
    }

    #[test]
    fn kubevirt_subresources() {
        let r = parse("/apis/subresources.kubevirt.io/v1/namespaces/n/virtualmachineinstances/vm1/portforward/22/tcp");
        assert_eq!(
            r,
            Route::Virt {
                namespace: "n".into(),
                resource: VirtResource::VirtualMachineInstance,
                name: "vm1".into(),
                action: "portforward".into(),
                rest: vec!["22".into(), "tcp".into()],
            }
        );
        assert!(matches!(
            parse("/apis/subresources.kubevirt.io/v1alpha3/namespaces/n/virtualmachines/vm1/start"),
            Route::Virt {
                resource: VirtResource::VirtualMachine,
                ..
            }
        ));
    }
}

//! The user's role: which verbs on which resources the token may use, as the API server's
//! authorizer decides them, and the SelfSubjectAccessReview that asks it.

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult, Cause};
use crate::kinds;

/// One verb on one resource, as RBAC names them: `create` on
/// `nodenetworkconfigurationpolicies` in group `nmstate.io`; a subresource is
/// `resource/subresource` (`pods/eviction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub verb: String,
    pub group: String,
    pub resource: String,
}

/// What the token may do: everything but the denied permissions (by default nothing is
/// denied, as for the cluster-admin a freshly installed cluster hands out).
#[derive(Debug, Clone, Default)]
pub struct Role {
    pub denied: Vec<Permission>,
}

impl Role {
    /// `create:nodenetworkconfigurationpolicies.nmstate.io,delete:namespaces`: a comma-separated
    /// list of `VERB:RESOURCE[.GROUP]`, as `kubectl auth can-i VERB RESOURCE.GROUP` spells them.
    pub fn denying(list: &str) -> Result<Role, String> {
        let denied = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Permission::parse)
            .collect::<Result<_, _>>()?;
        Ok(Role { denied })
    }

    pub fn allows(&self, asked: &Permission) -> bool {
        !self.denied.iter().any(|d| {
            (d.verb == asked.verb || d.verb == "*")
                && d.group == asked.group
                && d.resource == asked.resource
        })
    }
}

impl Permission {
    fn parse(text: &str) -> Result<Permission, String> {
        let (verb, resource) = text.split_once(':').ok_or_else(|| {
            format!("{text:?} is not VERB:RESOURCE[.GROUP] (for example create:nodenetworkconfigurationpolicies.nmstate.io)")
        })?;
        let (resource, group) = resource.split_once('.').unwrap_or((resource, ""));
        if verb.is_empty() || resource.is_empty() {
            return Err(format!(
                "{text:?} names no verb or no resource; write VERB:RESOURCE[.GROUP]"
            ));
        }
        Ok(Permission {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
        })
    }
}

/// Answers a SelfSubjectAccessReview as kube-apiserver does (kubernetes
/// pkg/registry/authorization/selfsubjectaccessreview/rest.go `REST.Create`): the spec is
/// validated (exactly one of resourceAttributes and nonResourceAttributes,
/// pkg/apis/authorization/validation `ValidateSelfSubjectAccessReviewSpec`), the authorizer
/// is asked, and the review comes back with `status` filled and nothing stored. RBAC never
/// denies, it only does not allow (plugin/pkg/auth/authorizer/rbac/rbac.go `Authorize`
/// returns DecisionNoOpinion), so `denied` stays false and the reason empty when refused.
pub fn review(role: &Role, mut body: Value) -> ApiResult<Value> {
    let spec = &body["spec"];
    let (resource, non_resource) = (&spec["resourceAttributes"], &spec["nonResourceAttributes"]);
    let kind = kinds::get(kinds::SSARS);
    let invalid = |field: &str, message: &str| {
        let cause = Cause {
            field: field.into(),
            message: message.into(),
        };
        ApiError::invalid(kind, "", vec![cause])
    };
    let allowed = match (resource.is_object(), non_resource.is_object()) {
        (true, true) => Err(invalid(
            "spec.nonResourceAttributes",
            "cannot be specified in combination with resourceAttributes",
        )),
        (false, false) => Err(invalid(
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        // Non-resource URLs (/healthz, /version) are open to every authenticated user here.
        (false, true) => Ok(true),
        (true, false) => Ok(role.allows(&asked(resource))),
    }?;
    // Go's encoder leaves the empty reason of a refusal out (`json:"reason,omitempty"`).
    body["status"] = if allowed {
        json!({"allowed": true, "reason": "RBAC: allowed by ClusterRoleBinding \"vstp-sim\" of ClusterRole \"vstp-sim\" to User \"vstp-sim\""})
    } else {
        json!({"allowed": false})
    };
    Ok(body)
}

/// The permission resourceAttributes ask about (a subresource is RBAC's `resource/sub`).
fn asked(attributes: &Value) -> Permission {
    let text = |key: &str| attributes[key].as_str().unwrap_or_default().to_string();
    let sub = text("subresource");
    let resource = if sub.is_empty() {
        text("resource")
    } else {
        format!("{}/{sub}", text("resource"))
    };
    Permission {
        verb: text("verb"),
        group: text("group"),
        resource,
    }
}

/// The request's verb as kube-apiserver names it for the authorizer (k8s.io/apiserver
/// pkg/endpoints/request/requestinfo.go `RequestInfoFactory.NewRequestInfo`: GET on a
/// collection is list, or watch with `watch=true`; DELETE on one is deletecollection).
pub fn verb(method: &http::Method, collection: bool, watch: bool) -> &'static str {
    use http::Method;
    match (method, collection) {
        (&Method::GET, true) if watch => "watch",
        (&Method::GET, true) => "list",
        (&Method::GET, false) if watch => "watch",
        (&Method::GET, false) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "deletecollection",
        (&Method::DELETE, false) => "delete",
        _ => "unknown",
    }
}

/// The refusal kube-apiserver answers when the authorizer does not allow a request
/// (k8s.io/apiserver pkg/endpoints/handlers/responsewriters/errors.go `Forbidden` and
/// `forbiddenMessage`).
pub fn refuse(asked: &Permission, namespace: Option<&str>, name: &str) -> ApiError {
    let resource = asked.resource.split('/').next().unwrap_or_default();
    let qualified = match asked.group.as_str() {
        "" => resource.to_string(),
        group => format!("{resource}.{group}"),
    };
    let scope = match namespace {
        Some(ns) if !ns.is_empty() => format!("in the namespace \"{ns}\""),
        _ => "at the cluster scope".to_string(),
    };
    let why = format!(
        "User \"{USER}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
        asked.verb, asked.resource, asked.group
    );
    let message = if name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} \"{name}\" is forbidden: {why}")
    };
    ApiError::forbidden(message)
}

/// The user the simulator's token authenticates as.
pub const USER: &str = "vstp-sim";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_parses_verb_resource_and_group() {
        let role =
            Role::denying("create:nodenetworkconfigurationpolicies.nmstate.io, delete:namespaces")
                .unwrap();
        assert_eq!(role.denied[0].group, "nmstate.io");
        assert_eq!(role.denied[1].group, "");
        assert!(Role::denying("namespaces")
            .unwrap_err()
            .contains("VERB:RESOURCE"));
    }
}

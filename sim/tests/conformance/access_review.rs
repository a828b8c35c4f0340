//! SelfSubjectAccessReview: kubernetes pkg/registry/authorization/selfsubjectaccessreview/rest.go
//! `REST.Create` answers from the authorizer and stores nothing; RBAC's refusal is "no opinion"
//! (plugin/pkg/auth/authorizer/rbac/rbac.go `Authorize`), so `denied` is unset.

use super::*;
use vstp_sim::access::Role;
use vstp_sim::SimConfig;

fn reviews(client: &kube::Client) -> Api<DynamicObject> {
    let ar = resource(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
    );
    Api::all_with(client.clone(), &ar)
}

async fn ask(client: &kube::Client, spec: Value) -> Result<Value, kube::Error> {
    let review: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "metadata": {}, "spec": spec,
    }))
    .unwrap();
    reviews(client)
        .create(&Default::default(), &review)
        .await
        .map(|r| value(&r))
}

fn can(verb: &str, group: &str, resource: &str) -> Value {
    json!({"resourceAttributes": {"verb": verb, "group": group, "resource": resource}})
}

#[tokio::test]
async fn a_review_answers_from_the_role_and_stores_nothing() {
    let role = Role::denying("create:nodenetworkconfigurationpolicies.nmstate.io").unwrap();
    let (_sim, client) = start_with(SimConfig {
        role,
        ..SimConfig::default()
    })
    .await;
    let nncp = ask(
        &client,
        can("create", "nmstate.io", "nodenetworkconfigurationpolicies"),
    )
    .await
    .unwrap();
    assert_eq!(nncp["status"], json!({"allowed": false}), "{nncp}");
    let get = ask(
        &client,
        can("get", "nmstate.io", "nodenetworkconfigurationpolicies"),
    )
    .await
    .unwrap();
    assert_eq!(get["status"]["allowed"], true, "{get}");
    assert!(get["status"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("RBAC: allowed by"));
    let list = reviews(&client)
        .list(&Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(list, kube::Error::Api(ref s) if s.code == 405),
        "{list:?}"
    );
}

#[tokio::test]
async fn a_review_without_attributes_is_invalid() {
    let (_sim, client) = start().await;
    let Err(kube::Error::Api(e)) = ask(&client, json!({})).await else {
        panic!("accepted a review asking nothing");
    };
    assert_eq!(e.code, 422);
    assert!(
        e.message
            .contains("exactly one of nonResourceAttributes or resourceAttributes"),
        "{}",
        e.message
    );
}

/// What the role refuses, the API refuses too, with kube-apiserver's message (k8s.io/apiserver
/// pkg/endpoints/handlers/responsewriters/errors.go `forbiddenMessage`); the rest is served.
#[tokio::test]
async fn a_refused_request_is_forbidden() {
    let role = Role::denying("create:nodenetworkconfigurationpolicies.nmstate.io").unwrap();
    let (_sim, client) = start_with(SimConfig {
        role,
        ..SimConfig::default()
    })
    .await;
    let ar = resource(
        "nmstate.io",
        "v1",
        "NodeNetworkConfigurationPolicy",
        "nodenetworkconfigurationpolicies",
    );
    let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
    api.list(&Default::default()).await.unwrap();
    let policy: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "nmstate.io/v1", "kind": "NodeNetworkConfigurationPolicy",
        "metadata": {"name": "br1"}, "spec": {}}))
    .unwrap();
    let Err(kube::Error::Api(e)) = api.create(&Default::default(), &policy).await else {
        panic!("a refused create was served");
    };
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "nodenetworkconfigurationpolicies.nmstate.io is forbidden: User \"vstp-sim\" cannot \
         create resource \"nodenetworkconfigurationpolicies\" in API group \"nmstate.io\" at \
         the cluster scope"
    );
}

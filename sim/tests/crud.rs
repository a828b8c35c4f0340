//! CRUD, patch, concurrency, selectors, finalizers and garbage collection through kube::Api.

mod common;

use common::{api_error, raw, start, vm, vms};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use rstest::rstest;
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .unwrap()
}

#[tokio::test]
async fn create_get_replace_delete() {
    let (_sim, client) = start().await;
    let api = vms(&client, "default");
    let created = api
        .create(&PostParams::default(), &vm("vm1"))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_ref().is_some_and(|u| u.len() == 36), "{meta:?}");
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, Some(1));
    assert!(
        created.data.get("status").is_none(),
        "status given at create is reset"
    );

    let again = api
        .create(&PostParams::default(), &vm("vm1"))
        .await
        .unwrap_err();
    let s = api_error(again);
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));

    let mut fetched = api.get("vm1").await.unwrap();
    fetched.data["spec"]["runStrategy"] = json!("Always");
    let replaced = api
        .replace("vm1", &PostParams::default(), &fetched)
        .await
        .unwrap();
    assert_eq!(replaced.metadata.generation, Some(2));
    assert_ne!(
        replaced.metadata.resource_version,
        fetched.metadata.resource_version
    );

    api.delete("vm1", &DeleteParams::default()).await.unwrap();
    let s = api_error(api.get("vm1").await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert_eq!(s.message, "virtualmachines.kubevirt.io \"vm1\" not found");
}

#[tokio::test]
async fn generate_name_and_invalid_names() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut gen = cm("", json!({}));
    gen.metadata.name = None;
    gen.metadata.generate_name = Some("kubevirt-migrate-vm-".into());
    let made = api.create(&PostParams::default(), &gen).await.unwrap();
    let name = made.metadata.name.unwrap();
    assert!(
        name.starts_with("kubevirt-migrate-vm-") && name.len() == 25,
        "{name}"
    );

    let s = api_error(
        api.create(&PostParams::default(), &cm("Bad_Name", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    let causes = s.details.unwrap().causes;
    assert_eq!(causes[0].field, "metadata.name");

    let missing: Api<ConfigMap> = Api::namespaced(client, "nowhere");
    let s = api_error(
        missing
            .create(&PostParams::default(), &cm("x", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (s.code, s.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
}

#[tokio::test]
async fn stale_resource_version_conflicts() {
    let (_sim, client) = start().await;
    let api = vms(&client, "default");
    let first = api
        .create(&PostParams::default(), &vm("vm1"))
        .await
        .unwrap();
    let mut a = first.clone();
    a.data["spec"]["runStrategy"] = json!("Always");
    api.replace("vm1", &PostParams::default(), &a)
        .await
        .unwrap();
    let mut stale = first.clone();
    stale.data["spec"]["runStrategy"] = json!("Manual");
    let s = api_error(
        api.replace("vm1", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(
        s.message.contains("the object has been modified"),
        "{}",
        s.message
    );
    // A merge patch carrying the stale version conflicts too.
    let rv = first.metadata.resource_version.unwrap();
    let p = json!({"metadata": {"resourceVersion": rv}, "spec": {"runStrategy": "Manual"}});
    let s = api_error(
        api.patch("vm1", &PatchParams::default(), &Patch::Merge(p))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 409);
}

#[rstest]
#[case::merge(Patch::Merge(json!({"spec": {"runStrategy": "Always"}})), "Always")]
#[case::json(Patch::Json(serde_json::from_value(json!([
    {"op": "test", "path": "/spec/runStrategy", "value": "Halted"},
    {"op": "replace", "path": "/spec/runStrategy", "value": "RerunOnFailure"}])).unwrap()), "RerunOnFailure")]
#[case::apply(Patch::Apply(json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
    "spec": {"runStrategy": "Manual"}})), "Manual")]
#[tokio::test]
async fn patch_types_on_a_custom_resource(
    #[case] patch: Patch<serde_json::Value>,
    #[case] expected: &str,
) {
    let (_sim, client) = start().await;
    let api = vms(&client, "default");
    api.create(&PostParams::default(), &vm("vm1"))
        .await
        .unwrap();
    let patched = api
        .patch("vm1", &PatchParams::apply("vstp-test"), &patch)
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["runStrategy"], json!(expected));
    assert_eq!(
        patched.data["spec"]["template"]["spec"]["domain"],
        json!({"devices": {}})
    );
}

#[tokio::test]
async fn failed_json_patch_test_and_strategic_merge_on_custom_resources_are_rejected() {
    let (_sim, client) = start().await;
    let api = vms(&client, "default");
    api.create(&PostParams::default(), &vm("vm1"))
        .await
        .unwrap();
    let test = serde_json::from_value(
        json!([{"op": "test", "path": "/spec/runStrategy", "value": "Always"}]),
    )
    .unwrap();
    let s = api_error(
        api.patch("vm1", &PatchParams::default(), &Patch::<()>::Json(test))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    let smp = Patch::Strategic(json!({"spec": {"runStrategy": "Always"}}));
    let s = api_error(
        api.patch("vm1", &PatchParams::default(), &smp)
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (415, "UnsupportedMediaType"));
    assert_eq!(
        api.get("vm1").await.unwrap().data["spec"]["runStrategy"],
        json!("Halted")
    );
}

#[tokio::test]
async fn strategic_merge_merges_containers_by_name() {
    let (_sim, client) = start().await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "i1"}, {"name": "b", "image": "i2"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let p = Patch::Strategic(json!({"spec": {"containers": [{"name": "b", "image": "i3"}]}}));
    let got = pods.patch("p", &PatchParams::default(), &p).await.unwrap();
    let images: Vec<_> = got
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| (c.name, c.image.unwrap()))
        .collect();
    assert_eq!(
        images,
        vec![("a".into(), "i1".into()), ("b".into(), "i3".into())]
    );
    assert_eq!(got.status.unwrap().phase.as_deref(), Some("Pending"));
}

#[tokio::test]
async fn apply_creates_and_requires_a_field_manager() {
    let (_sim, client) = start().await;
    let api = vms(&client, "default");
    let body = json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "vm2"}, "spec": {"runStrategy": "Always"}});
    let made = api
        .patch(
            "vm2",
            &PatchParams::apply("vstp-test"),
            &Patch::Apply(&body),
        )
        .await
        .unwrap();
    assert!(made.metadata.uid.is_some());
    let path = "/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm2";
    let (code, status) = raw(
        &client,
        "PATCH",
        path,
        "application/apply-patch+yaml",
        b"spec: {runStrategy: Halted}".to_vec(),
    )
    .await;
    assert_eq!(code, 400, "{status}");
    assert!(status["message"].as_str().unwrap().contains("fieldManager"));
}

#[tokio::test]
async fn status_and_main_resource_writes_do_not_cross() {
    let (_sim, client) = start().await;
    let api = vms(&client, "default");
    api.create(&PostParams::default(), &vm("vm1"))
        .await
        .unwrap();
    let both = json!({"spec": {"runStrategy": "Always"}, "status": {"printableStatus": "Running"}});
    let via_status = api
        .patch_status("vm1", &PatchParams::default(), &Patch::Merge(&both))
        .await
        .unwrap();
    assert_eq!(
        via_status.data["status"]["printableStatus"],
        json!("Running")
    );
    assert_eq!(via_status.data["spec"]["runStrategy"], json!("Halted"));
    assert_eq!(
        via_status.metadata.generation,
        Some(1),
        "status writes keep the generation"
    );
    let both = json!({"spec": {"runStrategy": "Always"}, "status": {"printableStatus": "Stopped"}});
    let via_main = api
        .patch("vm1", &PatchParams::default(), &Patch::Merge(&both))
        .await
        .unwrap();
    assert_eq!(via_main.data["status"]["printableStatus"], json!("Running"));
    assert_eq!(via_main.data["spec"]["runStrategy"], json!("Always"));
}

#[rstest]
#[case("app=web", &["a"])]
#[case("app==web", &["a"])]
#[case("app!=web", &["b", "c"])]
#[case("app in (web,db)", &["a", "b"])]
#[case("app notin (web)", &["b", "c"])]
#[case("tier", &["a", "b"])]
#[case("!tier", &["c"])]
#[case("app=db,tier=2", &["b"])]
#[tokio::test]
async fn label_selectors(#[case] selector: &str, #[case] expected: &[&str]) {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for (name, labels) in [
        ("a", json!({"app": "web", "tier": "1"})),
        ("b", json!({"app": "db", "tier": "2"})),
        ("c", json!({})),
    ] {
        api.create(&PostParams::default(), &cm(name, labels))
            .await
            .unwrap();
    }
    let got = api
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap();
    let names: Vec<String> = got
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn field_selectors() {
    let (sim, client) = start().await;
    let pods: Api<Pod> = Api::all(client.clone());
    let store = sim.store();
    for (name, node, phase) in [
        ("p1", "w0", "Running"),
        ("p2", "w1", "Running"),
        ("p3", "w0", "Succeeded"),
    ] {
        let pod = json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node}, "status": {"phase": phase}});
        store
            .create(
                vstp_sim::kinds::PODS,
                pod,
                vstp_sim::store::Scope::All,
                false,
            )
            .unwrap();
    }
    let names = |l: kube::api::ObjectList<Pod>| {
        l.items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect::<Vec<_>>()
    };
    let on_w0 = pods
        .list(&ListParams::default().fields("spec.nodeName=w0"))
        .await
        .unwrap();
    assert_eq!(names(on_w0), ["p1", "p3"]);
    let running_w0 = pods
        .list(&ListParams::default().fields("spec.nodeName=w0,status.phase!=Succeeded"))
        .await
        .unwrap();
    assert_eq!(names(running_w0), ["p1"]);
    let by_name = pods
        .list(&ListParams::default().fields("metadata.name=p2,metadata.namespace=default"))
        .await
        .unwrap();
    assert_eq!(names(by_name), ["p2"]);
    let s = api_error(
        pods.list(&ListParams::default().fields("spec.hostname=x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (s.code, s.message.as_str()),
        (400, "field label not supported: spec.hostname")
    );
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut c = cm("held", json!({}));
    c.metadata.finalizers = Some(vec!["vstp.io/test".into()]);
    api.create(&PostParams::default(), &c).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let still = api.get("held").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    let clear = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    api.patch("held", &PatchParams::default(), &clear)
        .await
        .unwrap();
    assert_eq!(api_error(api.get("held").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn namespace_deletion_cascades_and_waits_for_finalizers() {
    let (_sim, client) = start().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(&PostParams::default(), &cm("plain", json!({})))
        .await
        .unwrap();
    let mut held = cm("held", json!({}));
    held.metadata.finalizers = Some(vec!["vstp.io/test".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    vms(&client, "doomed")
        .create(&PostParams::default(), &vm("vm1"))
        .await
        .unwrap();

    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get("doomed").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    assert_eq!(api_error(cms.get("plain").await.unwrap_err()).code, 404);
    assert_eq!(
        api_error(vms(&client, "doomed").get("vm1").await.unwrap_err()).code,
        404
    );
    let s = api_error(
        cms.create(&PostParams::default(), &cm("late", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 403, "{}", s.message);

    let clear = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    cms.patch("held", &PatchParams::default(), &clear)
        .await
        .unwrap();
    assert_eq!(
        api_error(namespaces.get("doomed").await.unwrap_err()).code,
        404
    );

    // Without finalizers the namespace is gone by the time the delete call answers.
    let quick: Namespace = serde_json::from_value(json!({"metadata": {"name": "quick"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &quick)
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), "quick")
        .create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();
    let gone = namespaces
        .delete("quick", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        gone.left().and_then(|n| n.metadata.name).as_deref(),
        Some("quick")
    );
    assert_eq!(
        api_error(namespaces.get("quick").await.unwrap_err()).code,
        404
    );
}

#[tokio::test]
async fn owner_references_are_garbage_collected_or_orphaned() {
    let (_sim, client) = start().await;
    let api = vms(&client, "default");
    let owner = api
        .create(&PostParams::default(), &vm("owner"))
        .await
        .unwrap();
    let owner_ref = json!([{"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "name": "owner",
        "uid": owner.metadata.uid.clone().unwrap(), "controller": true}]);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for name in ["dep1", "dep2"] {
        let mut c = cm(name, json!({}));
        c.metadata.owner_references = Some(serde_json::from_value(owner_ref.clone()).unwrap());
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    api.delete("owner", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_error(cms.get("dep1").await.unwrap_err()).code, 404);

    let owner = api
        .create(&PostParams::default(), &vm("owner2"))
        .await
        .unwrap();
    let mut c = cm("kept", json!({}));
    let mut r = owner_ref.clone();
    r[0]["uid"] = json!(owner.metadata.uid.unwrap());
    c.metadata.owner_references = Some(serde_json::from_value(r).unwrap());
    cms.create(&PostParams::default(), &c).await.unwrap();
    api.delete("owner2", &DeleteParams::orphan()).await.unwrap();
    let kept = cms.get("kept").await.unwrap();
    assert!(kept
        .metadata
        .owner_references
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn delete_collection_by_label() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for (name, labels) in [
        ("a", json!({"x": "1"})),
        ("b", json!({"x": "1"})),
        ("c", json!({})),
    ] {
        api.create(&PostParams::default(), &cm(name, labels))
            .await
            .unwrap();
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("x=1"),
    )
    .await
    .unwrap();
    let left: Vec<_> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn wrong_or_missing_token_is_unauthorized() {
    let (sim, _client) = start().await;
    for user in ["    token: not-the-token\n", "    {}\n"] {
        let kubeconfig = sim
            .kubeconfig()
            .replace(&format!("    token: {}\n", sim.token()), user);
        let intruder = common::client_for(&kubeconfig).await;
        let api: Api<ConfigMap> = Api::namespaced(intruder, "default");
        let s = api_error(api.list(&ListParams::default()).await.unwrap_err());
        assert_eq!((s.code, s.reason.as_str()), (401, "Unauthorized"));
    }
}

#[rstest]
#[case::malformed_json("POST", "/api/v1/namespaces/default/configmaps", "application/json", b"{not json".to_vec(), 400)]
#[case::malformed_yaml("POST", "/api/v1/namespaces/default/configmaps", "application/yaml", b"a: [".to_vec(), 400)]
#[case::protobuf_empty_envelope("POST", "/api/v1/namespaces/default/configmaps", "application/vnd.kubernetes.protobuf", b"k8s\0".to_vec(), 400)]
#[case::unknown_media_type("POST", "/api/v1/namespaces/default/configmaps", "application/cbor", b"{}".to_vec(), 415)]
#[case::not_an_object("POST", "/api/v1/namespaces/default/configmaps", "application/json", b"[1,2]".to_vec(), 400)]
#[case::wrong_kind("POST", "/api/v1/namespaces/default/configmaps", "application/json", br#"{"kind":"Secret","metadata":{"name":"x"}}"#.to_vec(), 400)]
#[case::too_large("POST", "/api/v1/namespaces/default/configmaps", "application/json", vec![b' '; 4 * 1024 * 1024], 413)]
#[case::unknown_resource("GET", "/apis/kubevirt.io/v1/namespaces/default/virtualmachinesnapshots", "application/json", vec![], 404)]
#[case::unknown_group("GET", "/apis/example.com/v1/widgets", "application/json", vec![], 404)]
#[case::method("POST", "/api/v1/namespaces/default/configmaps/x", "application/json", b"{}".to_vec(), 405)]
#[case::bad_selector("GET", "/api/v1/pods?labelSelector=a%20in%20b", "application/json", vec![], 400)]
#[case::bad_watch_version("GET", "/api/v1/pods?watch=true&resourceVersion=abc", "application/json", vec![], 400)]
#[case::bad_propagation("DELETE", "/api/v1/namespaces/default/configmaps?propagationPolicy=Sideways", "application/json", vec![], 400)]
#[tokio::test]
async fn bad_requests_get_status_errors(
    #[case] method: &str,
    #[case] path: &str,
    #[case] content_type: &str,
    #[case] body: Vec<u8>,
    #[case] code: u16,
) {
    let (_sim, client) = start().await;
    let (got, status) = raw(&client, method, path, content_type, body).await;
    assert_eq!(got, code, "{status}");
    assert_eq!(status["kind"], json!("Status"));
    assert_eq!(status["code"], json!(code));
    assert!(!status["message"].as_str().unwrap_or_default().is_empty());
}

#[tokio::test]
async fn discovery_lists_kinds_with_short_names_and_eviction() {
    let (_sim, client) = start().await;
    let (_, core) = raw(&client, "GET", "/api/v1", "application/json", vec![]).await;
    let eviction = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/eviction")
        .unwrap();
    assert_eq!(
        (eviction["group"].as_str(), eviction["kind"].as_str()),
        (Some("policy"), Some("Eviction"))
    );
    let (_, kv) = raw(
        &client,
        "GET",
        "/apis/kubevirt.io/v1",
        "application/json",
        vec![],
    )
    .await;
    let vm = kv["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "virtualmachines")
        .unwrap();
    assert_eq!(vm["shortNames"], json!(["vm", "vms"]));
    assert_eq!(vm["categories"], json!(["all"]));
    let discovery = kube::Discovery::new(client).run().await.unwrap();
    for group in [
        "kubevirt.io",
        "nmstate.io",
        "k8s.cni.cncf.io",
        "k8s.ovn.org",
        "migrations.kubevirt.io",
    ] {
        assert!(discovery.has_group(group), "{group} missing from discovery");
    }
}

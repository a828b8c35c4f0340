//! CDI DataVolumes cloned from a DataSource, and KubeVirt waiting for them:
//! containerized-data-importer pkg/controller/datavolume/pvc-clone-controller.go `syncClone`
//! (`validateCloneAndSourcePVC`: CloneWithoutSource), clone-controller-base.go
//! `updateStatusPhaseForPopulator` (CloneScheduled → CSICloneInProgress / CloneInProgress →
//! Succeeded), controller-base.go `updateStatus` and conditions.go `updateConditions`;
//! clone/planner.go `validateAdvancedClonePVC` (host-assisted across provisioners); kubevirt
//! v1.9.0 pkg/virt-controller/watch/vm/vm.go `handleDataVolumes` (no VMI before the
//! DataVolumes are populated, printableStatus Provisioning) and vmi/lifecycle.go (no launcher
//! pod while a DataVolume volume is not ready).

use futures::TryStreamExt;
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};

use super::*;

const IMAGES: &str = "openshift-virtualization-os-images";

fn data_volumes(client: &kube::Client) -> Api<DynamicObject> {
    let ar = resource("cdi.kubevirt.io", "v1beta1", "DataVolume", "datavolumes");
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn claims(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims");
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// A DataVolume spec cloning DataSource `source` of the images namespace.
fn clone_spec(source: &str, class: Option<&str>) -> Value {
    let mut storage = json!({"resources": {"requests": {"storage": "30Gi"}},
        "accessModes": ["ReadWriteMany"], "volumeMode": "Block"});
    if let Some(class) = class {
        storage["storageClassName"] = json!(class);
    }
    json!({"sourceRef": {"kind": "DataSource", "name": source, "namespace": IMAGES},
           "storage": storage})
}

async fn create_dv(client: &kube::Client, name: &str, spec: Value) {
    let dv = json!({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
        "metadata": {"name": name, "namespace": "default"}, "spec": spec});
    data_volumes(client)
        .create(&PostParams::default(), &serde_json::from_value(dv).unwrap())
        .await
        .unwrap();
}

/// A RHEL VM whose root disk is DataVolume `{name}-root`, cloned from `source`.
fn vm_from(name: &str, source: &str) -> DynamicObject {
    let mut vm = value(&rhel_vm(name, json!({})));
    let root = format!("{name}-root");
    let volumes = vm["spec"]["template"]["spec"]["volumes"]
        .as_array_mut()
        .unwrap();
    volumes.insert(0, json!({"name": "rootdisk", "dataVolume": {"name": root}}));
    vm["spec"]["dataVolumeTemplates"] =
        json!([{"metadata": {"name": root}, "spec": clone_spec(source, None)}]);
    serde_json::from_value(vm).unwrap()
}

/// The distinct phases of a history, in order.
fn phases(history: &[Value]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for p in history.iter().filter_map(|d| d["status"]["phase"].as_str()) {
        if seen.last().map(String::as_str) != Some(p) {
            seen.push(p.to_string());
        }
    }
    seen
}

/// The resourceVersion VMI `name` was created at, replayed from `since`.
async fn created_version(client: &kube::Client, name: &str, since: &str) -> u64 {
    let params = WatchParams::default().fields(&format!("metadata.name={name}"));
    let stream = vmis(client).watch(&params, since).await.unwrap();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.try_next().await.unwrap() {
        if let WatchEvent::Added(o) = event {
            return version(&value(&o));
        }
    }
    panic!("no VMI {name} was added after version {since}")
}

fn succeeded(d: &Value) -> bool {
    d["status"]["phase"] == "Succeeded"
}

#[tokio::test]
async fn a_vm_clones_its_data_volume_template_and_boots_only_once_it_is_populated() {
    let (_sim, client) = cluster().await;
    let before = vmis(&client).list(&ListParams::default()).await.unwrap();
    let before = before.metadata.resource_version.unwrap();
    vm_api(&client)
        .create(&PostParams::default(), &vm_from("a", "rhel9"))
        .await
        .unwrap();
    let history = history_until(&data_volumes(&client), "a-root", "Succeeded", succeeded).await;
    assert_eq!(
        phases(&history),
        ["CloneScheduled", "CSICloneInProgress", "Succeeded"]
    );
    let dv = history.last().unwrap();
    assert_eq!(dv["status"]["progress"], "100.0%");
    assert_eq!(dv["status"]["claimName"], "a-root");
    assert_eq!(
        dv["metadata"]["ownerReferences"][0]["kind"],
        "VirtualMachine"
    );
    // KubeVirt resolved the DataSource into the DataVolume's source (GetResolvedCloneSource).
    assert_eq!(dv["spec"]["sourceRef"], Value::Null, "{}", dv["spec"]);
    let source = &dv["spec"]["source"]["pvc"];
    let named = (source["namespace"].as_str(), source["name"].as_str());
    assert_eq!(named, (Some(IMAGES), Some("rhel9-6a9b2d0c7e1f")));
    let adoption = &dv["metadata"]["annotations"]["cdi.kubevirt.io/allowClaimAdoption"];
    assert_eq!(adoption, "true");
    let bound = condition(dv, "Bound").map(status_reason_message);
    assert_eq!(
        bound,
        Some((Some("True"), Some("Bound"), Some("PVC a-root Bound")))
    );
    assert_eq!(cond(dv, "Ready").as_deref(), Some("True"));
    let running = condition(dv, "Running").map(status_reason_message);
    assert_eq!(
        running,
        Some((Some("False"), Some("Completed"), Some("Clone Complete")))
    );
    let pvc = value(&claims(&client, "default").get("a-root").await.unwrap());
    assert_eq!(pvc["status"]["phase"], "Bound");
    assert_eq!(pvc["metadata"]["ownerReferences"][0]["kind"], "DataVolume");

    let vmi = until(&vmis(&client), "a", "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await;
    assert_eq!(cond(&vmi, "DataVolumesReady").as_deref(), Some("True"));
    // The store's resourceVersions order its writes: the VMI was created after the clone.
    let created = created_version(&client, "a", &before).await;
    let populated = version(dv);
    assert!(
        created > populated,
        "VMI created at version {created}, DataVolume Succeeded at {populated}"
    );
}

#[tokio::test]
async fn a_clone_onto_another_provisioner_falls_back_to_host_assisted_with_progress() {
    let (_sim, client) = cluster().await;
    create_dv(
        &client,
        "copy",
        clone_spec("rhel9", Some("ocs-storagecluster-cephfs")),
    )
    .await;
    let history = history_until(&data_volumes(&client), "copy", "Succeeded", succeeded).await;
    assert_eq!(
        phases(&history),
        ["CloneScheduled", "CloneInProgress", "Succeeded"]
    );
    let progress: Vec<&str> = history
        .iter()
        .filter(|d| d["status"]["phase"] == "CloneInProgress")
        .filter_map(|d| d["status"]["progress"].as_str())
        .collect();
    assert!(progress.contains(&"50.00%"), "{progress:?}");
}

#[tokio::test]
async fn a_clone_without_its_source_waits_not_ready_and_holds_its_vm_and_vmi() {
    let (_sim, client) = cluster().await;
    let ds = json!({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataSource",
        "metadata": {"name": "fedora", "namespace": IMAGES},
        "spec": {"source": {"pvc": {"name": "fedora-disk", "namespace": IMAGES}}}});
    let ar = resource("cdi.kubevirt.io", "v1beta1", "DataSource", "datasources");
    Api::<DynamicObject>::namespaced_with(client.clone(), IMAGES, &ar)
        .create(&PostParams::default(), &serde_json::from_value(ds).unwrap())
        .await
        .unwrap();
    vm_api(&client)
        .create(&PostParams::default(), &vm_from("b", "fedora"))
        .await
        .unwrap();
    let dv = until(&data_volumes(&client), "b-root", "not ready", |d| {
        condition(d, "Ready").is_some()
    })
    .await;
    let ready = condition(&dv, "Ready").map(status_reason_message);
    let why = "The source pvc fedora-disk doesn't exist";
    assert_eq!(
        ready,
        Some((Some("False"), Some("CloneWithoutSource"), Some(why)))
    );
    assert_eq!(dv["status"]["phase"], Value::Null, "CDI keeps the phase");
    assert!(claims(&client, "default")
        .get_opt("b-root")
        .await
        .unwrap()
        .is_none());
    holds(&vm_api(&client), "b", 30.0, "Provisioning", |v| {
        v["status"]["printableStatus"] == "Provisioning"
    })
    .await;
    assert!(vmis(&client).get_opt("b").await.unwrap().is_none());

    let mut direct = value(&rhel_vm("c", json!({})))["spec"]["template"].clone();
    direct["metadata"] = json!({"name": "c", "namespace": "default"});
    direct["spec"]["volumes"].as_array_mut().unwrap().insert(
        0,
        json!({"name": "rootdisk", "dataVolume": {"name": "b-root"}}),
    );
    direct["apiVersion"] = json!("kubevirt.io/v1");
    direct["kind"] = json!("VirtualMachineInstance");
    vmis(&client)
        .create(
            &PostParams::default(),
            &serde_json::from_value(direct).unwrap(),
        )
        .await
        .unwrap();
    let held = holds(&vmis(&client), "c", 30.0, "Pending", |v| {
        matches!(v["status"]["phase"].as_str(), None | Some("Pending"))
    })
    .await;
    assert_eq!(cond(&held, "DataVolumesReady").as_deref(), Some("False"));

    let source = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "fedora-disk", "namespace": IMAGES},
        "spec": {"accessModes": ["ReadWriteMany"], "volumeMode": "Block",
                 "storageClassName": "ocs-storagecluster-ceph-rbd-virtualization",
                 "resources": {"requests": {"storage": "30Gi"}}},
        "status": {"phase": "Bound", "capacity": {"storage": "30Gi"}}});
    claims(&client, IMAGES)
        .create(
            &PostParams::default(),
            &serde_json::from_value(source).unwrap(),
        )
        .await
        .unwrap();
    until(&data_volumes(&client), "b-root", "Succeeded", succeeded).await;
    for vmi in ["b", "c"] {
        until(&vmis(&client), vmi, "Running", |v| {
            v["status"]["phase"] == "Running"
        })
        .await;
    }
}

#[tokio::test]
async fn a_vm_whose_data_source_does_not_exist_fails_to_create_its_data_volume() {
    let (_sim, client) = cluster().await;
    vm_api(&client)
        .create(&PostParams::default(), &vm_from("d", "nosuch"))
        .await
        .unwrap();
    let vm = until(&vm_api(&client), "d", "failing", |v| {
        condition(v, "Failure").is_some()
    })
    .await;
    let failure = condition(&vm, "Failure").map(status_reason_message);
    let message = "Error encountered while creating DataVolumes: unable to create DataVolume manifest: datasources.cdi.kubevirt.io \"nosuch\" not found";
    assert_eq!(
        failure,
        Some((Some("True"), Some("FailedCreate"), Some(message)))
    );
    assert!(data_volumes(&client)
        .get_opt("d-root")
        .await
        .unwrap()
        .is_none());
    assert!(vmis(&client).get_opt("d").await.unwrap().is_none());
}

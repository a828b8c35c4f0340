//! Preferences: the Windows Server cluster preferences of kubevirt/common-instancetypes are
//! served, a VM naming one gets a VMI with the preferred Hyper-V enlightenments, timers,
//! firmware and devices where its template leaves them unset, and a VM naming a preference
//! the cluster lacks starts nothing and says why.

use kube::api::PostParams;

use super::*;

fn cluster_preferences(client: &kube::Client) -> Api<DynamicObject> {
    let ar = resource(
        "instancetype.kubevirt.io",
        "v1beta1",
        "VirtualMachineClusterPreference",
        "virtualmachineclusterpreferences",
    );
    Api::all_with(client.clone(), &ar)
}

/// A VM of `rhel_vm`'s shape naming cluster preference `name`.
async fn create_with_preference(client: &kube::Client, vm: &str, name: &str, extra: Value) {
    let mut object = value(&rhel_vm(vm, extra));
    object["spec"]["preference"] = json!({"kind": "VirtualMachineClusterPreference", "name": name});
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    vm_api(client)
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
}

/// kubevirt/common-instancetypes preferences/windows/2k22 (base components hyperv,
/// diskbus-sata, interfacemodel-e1000e, termination-grace-period; efi-persisted, tpm,
/// secureboot), as virt-operator deploys it.
#[tokio::test]
async fn the_common_windows_server_preferences_are_served() {
    let (_sim, client) = cluster().await;
    let listed = cluster_preferences(&client)
        .list(&Default::default())
        .await
        .unwrap();
    let names: Vec<String> = listed
        .items
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    for name in [
        "windows.2k19",
        "windows.2k22",
        "windows.2k22.virtio",
        "windows.2k25",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }
    let p = value(
        &cluster_preferences(&client)
            .get("windows.2k22")
            .await
            .unwrap(),
    );
    let spec = &p["spec"];
    assert_eq!(
        spec["features"]["preferredHyperv"]["spinlocks"]["spinlocks"],
        8191
    );
    assert_eq!(spec["clock"]["preferredTimer"]["hpet"]["present"], false);
    assert_eq!(
        spec["firmware"]["preferredEfi"],
        json!({"persistent": true, "secureBoot": true})
    );
    assert_eq!(spec["devices"]["preferredTPM"], json!({"persistent": true}));
    assert_eq!(spec["devices"]["preferredDiskBus"], "sata");
}

/// kubevirt v1.9.0 pkg/instancetype/preference/apply/vmi.go `Apply` (features.go, clock.go,
/// firmware.go, device.go, interface.go, termination.go) through
/// pkg/instancetype/controller/vm/controller.go `ApplyToVMI`: preferred values fill what the
/// template left unset, the template's own choices stay, and the VMI names the preference.
#[tokio::test]
async fn a_vm_naming_a_windows_preference_gets_its_features_on_the_vmi() {
    let (_sim, client) = cluster().await;
    // The template chooses its own RTC policy: the preferred timers must not replace it.
    let own_timer = json!({"rtc": {"tickPolicy": "delay"}});
    let extra = json!({"domain": {"clock": {"timer": own_timer}}});
    create_with_preference(&client, "win", "windows.2k22", extra).await;
    let vmi = until(&vmis(&client), "win", "created", |v| !v["spec"].is_null()).await;
    let domain = &vmi["spec"]["domain"];
    let hyperv = &domain["features"]["hyperv"];
    for enlightenment in [
        "relaxed",
        "vapic",
        "vpindex",
        "synic",
        "tlbflush",
        "frequencies",
        "ipi",
        "reset",
    ] {
        assert_eq!(
            hyperv[enlightenment],
            json!({}),
            "{enlightenment}: {hyperv}"
        );
    }
    assert_eq!(hyperv["synictimer"], json!({"direct": {}}));
    assert_eq!(domain["features"]["smm"], json!({}));
    assert_eq!(domain["clock"]["utc"], json!({}));
    assert_eq!(domain["clock"]["timer"], own_timer);
    assert_eq!(
        domain["firmware"]["bootloader"]["efi"],
        json!({"persistent": true, "secureBoot": true})
    );
    assert_eq!(domain["devices"]["tpm"], json!({"persistent": true}));
    assert_eq!(domain["devices"]["interfaces"][0]["model"], "e1000e");
    assert_eq!(vmi["spec"]["terminationGracePeriodSeconds"], 3600);
    let annotations = &vmi["metadata"]["annotations"];
    assert_eq!(
        annotations["kubevirt.io/cluster-preference-name"],
        "windows.2k22"
    );
    assert_eq!(annotations["vm.kubevirt.io/os"], "windows");
}

/// kubevirt v1.9.0 pkg/instancetype/controller/vm/controller.go `checkResourcesExist` and
/// pkg/virt-controller/watch/vm/vm.go `processFailureCondition`: a preference that cannot be
/// found fails the VM's Sync with reason FailedFindPreference before any VMI is created; the
/// Sync is retried, so the VM starts once the preference exists.
#[tokio::test]
async fn a_vm_naming_a_missing_preference_starts_nothing_until_it_exists() {
    let (_sim, client) = cluster().await;
    create_with_preference(&client, "win", "windows.2k99", json!({})).await;
    let failed = until(&vm_api(&client), "win", "failed", |v| {
        cond(v, "Failure").as_deref() == Some("True")
    })
    .await;
    let failure = failed["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failure")
        .unwrap()
        .clone();
    assert_eq!(failure["reason"], "FailedFindPreference");
    assert_eq!(
        failure["message"],
        "virtualmachineclusterpreferences.instancetype.kubevirt.io \"windows.2k99\" not found"
    );
    let vmi = vmis(&client).get_opt("win").await.unwrap();
    assert!(vmi.is_none(), "a VMI was created without its preference");
    let mut later = value(
        &cluster_preferences(&client)
            .get("windows.2k22")
            .await
            .unwrap(),
    );
    later["metadata"] = json!({"name": "windows.2k99"});
    let later: DynamicObject = serde_json::from_value(later).unwrap();
    cluster_preferences(&client)
        .create(&PostParams::default(), &later)
        .await
        .unwrap();
    until(&vmis(&client), "win", "created", |v| !v["spec"].is_null()).await;
    until(&vm_api(&client), "win", "without Failure", |v| {
        cond(v, "Failure").is_none()
    })
    .await;
}

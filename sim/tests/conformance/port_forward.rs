//! virt-api's port-forward subresource: which VMIs it refuses, with which status and words,
//! before any websocket is opened.

use super::*;

fn forward_path(resource: &str, name: &str, rest: &str) -> String {
    format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/default/{resource}/{name}/portforward/{rest}"
    )
}

async fn get(client: &kube::Client, path: &str) -> (u16, Value) {
    raw(client, "GET", path, "application/json", Vec::new()).await
}

/// kubevirt/kubevirt v1.9.0: pkg/virt-api/rest/portforward.go `validateVMIForPortForward`
/// refuses a VMI with the Paused condition with errors.NewConflict(v1.Resource
/// ("virtualmachineinstance"), name, "VMI is paused").
#[tokio::test]
async fn a_paused_vmi_is_refused_with_409_vmi_is_paused() {
    let (_sim, client) = cluster().await;
    boot(&client, "a", json!({})).await;
    let pause =
        "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances/a/pause";
    let (code, body) = raw(&client, "PUT", pause, "application/json", b"{}".to_vec()).await;
    assert_eq!(code, 200, "{body}");

    let (code, status) = get(
        &client,
        &forward_path("virtualmachineinstances", "a", "22/tcp"),
    )
    .await;
    assert_eq!(
        (code, &status["reason"]),
        (409, &json!("Conflict")),
        "{status}"
    );
    assert_eq!(
        status["message"],
        "Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"a\": VMI is paused"
    );
    assert_eq!(status["details"]["kind"], "virtualmachineinstance");
}

/// kubevirt/kubevirt v1.9.0: pkg/virt-api/rest/dialers.go `getTargetInterfaceIP` answers
/// errors.NewBadRequest("no network interfaces are present") for a VMI without status
/// interfaces, whatever its phase (there is no phase check).
#[tokio::test]
async fn a_vmi_without_status_interfaces_is_refused_with_400() {
    let (_sim, client) = cluster().await;
    let vm = rhel_vm(
        "a",
        json!({"nodeSelector": {"kubernetes.io/hostname": "nowhere"}}),
    );
    vm_api(&client)
        .create(&Default::default(), &vm)
        .await
        .unwrap();
    let vmi = until(&vmis(&client), "a", "created", |v| {
        v["status"]["phase"].is_string()
    })
    .await;
    assert_ne!(vmi["status"]["phase"], "Running");

    let (code, status) = get(&client, &forward_path("virtualmachineinstances", "a", "22")).await;
    assert_eq!(
        (code, status["reason"].as_str(), status["message"].as_str()),
        (
            400,
            Some("BadRequest"),
            Some("no network interfaces are present")
        ),
        "{status}"
    );
}

/// kubevirt/kubevirt v1.9.0: pkg/virt-api/rest/dialers.go `netDial.DialUnderlying` dials the
/// first status interface's `ipAddress` and wraps a failure in errors.NewInternalError
/// ("dialing VM: …"); subresource.go `FetchVirtualMachineInstanceForVM` serves the VM's route.
#[tokio::test]
async fn a_refused_dial_is_500_dialing_vm() {
    let (_sim, client) = cluster().await;
    let vmi = boot(&client, "a", json!({})).await;
    let ip = vmi["status"]["interfaces"][0]["ipAddress"]
        .as_str()
        .unwrap()
        .to_string();

    for resource in ["virtualmachineinstances", "virtualmachines"] {
        let (code, status) = get(&client, &forward_path(resource, "a", "80")).await;
        let why = format!("dialing VM: dial tcp {ip}:80: connect: connection refused");
        assert_eq!(
            (code, status["reason"].as_str(), status["message"].as_str()),
            (
                500,
                Some("InternalError"),
                Some(format!("Internal error occurred: {why}").as_str())
            ),
            "{status}"
        );
        assert_eq!(status["details"]["causes"][0]["message"], why.as_str());
    }
    let (_, status) = get(
        &client,
        &forward_path("virtualmachineinstances", "a", "22/sctp"),
    )
    .await;
    assert_eq!(
        status["message"],
        "Internal error occurred: dialing VM: dial sctp: unknown network sctp"
    );
}

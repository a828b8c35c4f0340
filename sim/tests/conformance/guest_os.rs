//! The guest OS a VM's containerDisk image holds.

use kube::api::PostParams;

use super::*;

/// A RHEL-style VM (cloud-init as `rhel_vm`) booting from `image`.
fn vm_from_image(name: &str, image: &str) -> DynamicObject {
    let mut vm = value(&rhel_vm(name, json!({})));
    let spec = &mut vm["spec"]["template"]["spec"];
    spec["domain"]["devices"]["disks"] = json!([{"name": "rootdisk", "disk": {"bus": "virtio"}}]);
    spec["volumes"].as_array_mut().unwrap().insert(
        0,
        json!({"name": "rootdisk", "containerDisk": {"image": image}}),
    );
    serde_json::from_value(vm).unwrap()
}

async fn start(client: &kube::Client, name: &str, image: &str) {
    vm_api(client)
        .create(&PostParams::default(), &vm_from_image(name, image))
        .await
        .unwrap();
}

/// kubevirt v1.9.0 pkg/virt-handler/vm.go `updateGuestInfoFromDomain` copies what the guest
/// agent reports (`guest-get-osinfo`, read from the guest's /etc/os-release and uname) into
/// `status.guestOSInfo`: a Fedora 41 containerDisk reports Fedora 41 and its kernel, and the
/// guest's own files agree.
#[tokio::test]
async fn a_fedora_image_boots_fedora_with_its_kernel() {
    let (_sim, client) = cluster().await;
    start(&client, "fedora", "quay.io/containerdisks/fedora:41").await;
    let vmi = until(&vmis(&client), "fedora", "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await;
    let info = &vmi["status"]["guestOSInfo"];
    assert_eq!(
        (&info["id"], &info["versionId"], &info["kernelRelease"]),
        (
            &json!("fedora"),
            &json!("41"),
            &json!("6.11.4-301.fc41.x86_64")
        ),
        "{info}"
    );
    // sshd listens a while after the agent connected.
    logged_in(&client, "default", "fedora", "cloud-user").await;
    let (release, _) = ssh(&client, "fedora", KEY_FILE, "cat /etc/os-release")
        .await
        .unwrap();
    assert!(release.contains("ID=\"fedora\""), "{release}");
    let (kernel, _) = ssh(&client, "fedora", KEY_FILE, "uname -r").await.unwrap();
    assert_eq!(kernel.trim(), "6.11.4-301.fc41.x86_64");
}

/// kubevirt v1.9.0 pkg/virt-handler/vm.go `guestAgentConnected`: AgentConnected follows the
/// guest agent's virtio channel; CirrOS ships no qemu-guest-agent, so its VMI runs without
/// ever reporting one (and with no guestOSInfo).
#[tokio::test]
async fn a_cirros_image_runs_without_a_guest_agent() {
    let (_sim, client) = cluster().await;
    start(
        &client,
        "cirros",
        "quay.io/kubevirt/cirros-container-disk-demo:v1.9.0",
    )
    .await;
    until(&vmis(&client), "cirros", "Running", |v| {
        v["status"]["phase"] == "Running"
    })
    .await;
    // Well past the modelled OS boot, after which an agent would have connected.
    let last = holds(&vmis(&client), "cirros", 120.0, "agentless", |v| {
        cond(v, "AgentConnected").is_none()
    })
    .await;
    assert!(
        last["status"]["guestOSInfo"]
            .as_object()
            .is_none_or(|o| o.is_empty()),
        "{}",
        last["status"]
    );
}

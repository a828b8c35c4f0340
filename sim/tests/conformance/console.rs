//! A guest on a primary user-defined network: virt-api's port-forward cannot reach it, its
//! serial console can.

use kube::api::PostParams;

use super::primary_udn::{running, tenant, tenant_vmis, tenant_vms, NS};
use super::*;

/// A RHEL VM on the tenant's primary UDN (l2bridge) whose cloud-init gives cloud-user a
/// password.
async fn start_udn_vm(client: &kube::Client, name: &str) -> Value {
    let user_data = format!(
        "#cloud-config\nuser: cloud-user\npassword: s3cret\nchpasswd:\n  expire: false\nssh_authorized_keys:\n  - {}",
        PUBLIC_KEY.trim()
    );
    let mut vm = value(&rhel_vm(
        name,
        json!({"domain": {"devices": {"interfaces": [{"name": "default", "binding": {"name": "l2bridge"}}]}},
               "volumes": [{"name": "cloudinit", "cloudInitNoCloud": {"userData": user_data}}]}),
    ));
    vm["metadata"]["namespace"] = json!(NS);
    tenant_vms(client)
        .create(&PostParams::default(), &serde_json::from_value(vm).unwrap())
        .await
        .unwrap();
    running(client, name).await;
    until(&tenant_vmis(client), name, "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await
}

fn subresource(name: &str, tail: &str) -> String {
    format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/{NS}/virtualmachineinstances/{name}/{tail}"
    )
}

/// kubevirt v1.9.0 pkg/virt-api/rest/dialers.go `netDial.DialUnderlying` dials
/// `getTargetInterfaceIP` (status.interfaces[0]) from virt-api's own pod; on a primary UDN
/// that is the isolated UDN address, so the dial times out (kubevirt/kubevirt issue 18399).
/// pkg/virt-api/rest/console.go `ConsoleRequestHandler` goes through virt-handler
/// (`SerialHandler`) to the serial socket instead, and agetty, login and bash answer there.
#[tokio::test]
async fn a_primary_udn_guest_is_not_reached_by_the_port_forward_but_its_console_answers() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    let vmi = start_udn_vm(&client, "a").await;
    let ip = vmi["status"]["interfaces"][0]["ipAddress"]
        .as_str()
        .unwrap();
    assert!(ip.starts_with("10.100."), "{vmi}");

    let path = subresource("a", "portforward/22/tcp");
    let (code, status) = raw(&client, "GET", &path, "application/json", Vec::new()).await;
    assert_eq!(code, 500, "{status}");
    assert_eq!(
        status["message"],
        format!(
            "Internal error occurred: dialing VM: dial tcp {ip}:22: connect: connection timed out"
        )
    );

    let mut tty = open_console(&client, NS, "a").await.unwrap();
    exchange(&mut tty, "\r", "a login: ").await;
    let typed = exchange(&mut tty, "cloud-user\r", "Password: ").await;
    assert_eq!(typed, "cloud-user\r\nPassword: ", "the name is echoed");
    let wrong = exchange(&mut tty, "nope\r", "a login: ").await;
    assert!(
        wrong.contains("Login incorrect") && !wrong.contains("nope"),
        "{wrong:?}"
    );
    exchange(&mut tty, "cloud-user\r", "Password: ").await;
    let shell = exchange(&mut tty, "s3cret\r", "$ ").await;
    assert!(
        !shell.contains("s3cret"),
        "the password is not echoed: {shell:?}"
    );
    assert!(
        shell.ends_with("\x1b[?2004h[cloud-user@a ~]$ "),
        "{shell:?}"
    );
    let answer = exchange(&mut tty, "hostname; false; echo code=$?\r", "$ ").await;
    assert!(
        answer.starts_with("hostname; false; echo code=$?\r\n\x1b[?2004l\r"),
        "the line is echoed, then bash leaves bracketed paste: {answer:?}"
    );
    assert!(answer.contains("\ra\r\ncode=1\r\n"), "{answer:?}");

    // The shell belongs to the guest's tty, not to the connection: a new one finds it.
    drop(tty);
    let mut again = open_console(&client, NS, "a").await.unwrap();
    let prompt = exchange(&mut again, "\r", "$ ").await;
    assert!(!prompt.contains("login:"), "{prompt:?}");
}

/// kubevirt v1.9.0 pkg/virt-api/rest/console.go `validateVMIForConsole`: a VMI that is not
/// running is refused with 400 "VMI is not running".
#[tokio::test]
async fn the_console_of_a_vmi_that_is_not_running_is_refused() {
    let (_sim, client) = cluster().await;
    tenant(&client).await;
    let mut vm = value(&rhel_vm(
        "b",
        json!({"nodeSelector": {"kubernetes.io/hostname": "nowhere"}}),
    ));
    vm["metadata"]["namespace"] = json!(NS);
    tenant_vms(&client)
        .create(&PostParams::default(), &serde_json::from_value(vm).unwrap())
        .await
        .unwrap();
    until(&tenant_vmis(&client), "b", "created", |v| {
        v["status"]["phase"].is_string()
    })
    .await;
    let Err((status, body)) = open_console(&client, NS, "b").await else {
        panic!("the console of a VMI that is not running opened");
    };
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, &body["message"]),
        (400, &json!("VMI is not running")),
        "{body}"
    );
}

//! A guest on a primary user-defined network: virt-api's port-forward cannot reach it, its
//! serial console can.

use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use kube::api::PostParams;
use tokio_tungstenite::tungstenite::{self, protocol::Role, Message};

use super::primary_udn::{running, tenant, tenant_vmis, tenant_vms, NS};
use super::*;

type Socket = tokio_tungstenite::WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

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

/// The console websocket as `virtctl console` opens it, or the refusal's status and body.
async fn console(client: &kube::Client, name: &str) -> Result<Socket, (u16, String)> {
    let req = http::Request::get(subresource(name, "console"))
        .header(http::header::CONNECTION, "Upgrade")
        .header(http::header::UPGRADE, "websocket")
        .header(http::header::SEC_WEBSOCKET_VERSION, "13")
        .header(
            http::header::SEC_WEBSOCKET_KEY,
            tungstenite::handshake::client::generate_key(),
        )
        .header(http::header::SEC_WEBSOCKET_PROTOCOL, "plain.kubevirt.io")
        .body(kube::client::Body::empty())
        .unwrap();
    let res = client.send(req).await.unwrap();
    if res.status() != 101 {
        let status = res.status().as_u16();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap();
        return Err((status, String::from_utf8_lossy(&body.to_bytes()).into()));
    }
    let upgraded = hyper::upgrade::on(res).await.unwrap();
    Ok(tokio_tungstenite::WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Client,
        None,
    )
    .await)
}

/// Types `text`, then reads until what arrived ends with `until`; returns what arrived.
async fn exchange(socket: &mut Socket, text: &str, until: &str) -> String {
    socket
        .send(Message::binary(text.as_bytes().to_vec()))
        .await
        .unwrap();
    let mut seen = String::new();
    let read = async {
        while !seen.ends_with(until) {
            match socket.next().await {
                Some(Ok(Message::Binary(b))) => seen.push_str(&String::from_utf8_lossy(&b)),
                Some(Ok(_)) => {}
                other => panic!("the console ended: {other:?} after {seen:?}"),
            }
        }
    };
    if tokio::time::timeout(BUDGET, read).await.is_err() {
        panic!("no {until:?} within {BUDGET:?}; seen {seen:?}");
    }
    seen
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

    let mut tty = console(&client, "a").await.unwrap();
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
    let mut again = console(&client, "a").await.unwrap();
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
    let Err((status, body)) = console(&client, "b").await else {
        panic!("the console of a VMI that is not running opened");
    };
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, &body["message"]),
        (400, &json!("VMI is not running")),
        "{body}"
    );
}

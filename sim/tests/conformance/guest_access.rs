//! When a booted guest lets a client in: sshd listens only a while after the guest agent
//! connected, and keys given through the agent (accessCredentials) land on virt-launcher's
//! access-credentials tick, later still. Before that the port-forward's dial is refused, then
//! the login is.

use std::time::Duration;

use kube::api::PostParams;

use super::*;

/// Modelled seconds per real second: slow enough that the harness-free client below is
/// surely at the door before sshd starts (5 modelled seconds are 0.8 s here).
const SLOW: f64 = 6.0;

async fn slow_cluster() -> (vstp_sim::SimHandle, kube::Client) {
    let config = vstp_sim::SimConfig {
        time_scale: SLOW,
        ..vstp_sim::SimConfig::cluster(vstp_sim::world::nodes::ClusterSpec::tidy()).unwrap()
    };
    start_with(config).await
}

async fn agent_connected(client: &kube::Client, name: &str) -> Value {
    until(&vmis(client), name, "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await
}

fn condition<'a>(vmi: &'a Value, ty: &str) -> &'a Value {
    vmi["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == ty))
        .unwrap_or(&Value::Null)
}

/// kubevirt v1.9.0 pkg/virt-api/rest/dialers.go `netDial.DialUnderlying`: virt-api dials the
/// guest, and a guest whose sshd has not started yet (it follows cloud-init, while the agent
/// connects first) answers the dial with a refusal: 500 "dialing VM: … connection refused".
#[tokio::test]
async fn sshd_refuses_the_dial_for_a_while_after_the_agent_connects() {
    let (_sim, client) = slow_cluster().await;
    vm_api(&client)
        .create(&PostParams::default(), &rhel_vm("a", json!({})))
        .await
        .unwrap();
    let vmi = agent_connected(&client, "a").await;
    let ip = vmi["status"]["interfaces"][0]["ipAddress"]
        .as_str()
        .unwrap();
    let path = "/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances/a/portforward/22/tcp";
    let (code, status) = raw(&client, "GET", path, "application/json", Vec::new()).await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            500,
            Some(format!("Internal error occurred: dialing VM: dial tcp {ip}:22: connect: connection refused").as_str())
        ),
        "{status}"
    );
    let refused = logged_in(&client, "default", "a", "cloud-user").await;
    assert!(!refused.is_empty(), "the first login got in at once");
}

/// kubevirt v1.9.0 pkg/virt-launcher/virtwrap/access-credentials/access_credentials.go
/// `watchSecrets` / `reloadCredentialFiles`: the keys are written through the guest agent on
/// a 15 s ticker started with the domain; a tick before the agent answers reports "Guest agent
/// is offline", which virt-handler (pkg/virt-handler/vm.go `updateAccessCredentialConditions`)
/// shows as AccessCredentialsSynchronized=False with a Warning event AccessCredentialsSyncFailed,
/// and until a later tick writes them, sshd refuses the key.
#[tokio::test]
async fn agent_propagated_keys_land_on_a_later_tick_and_are_refused_until_then() {
    let (_sim, client) = slow_cluster().await;
    let secret: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "admin-key", "namespace": "default"}, "stringData": {"key": PUBLIC_KEY}}))
    .unwrap();
    api(&client, "Secret", "secrets")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let vm = rhel_vm(
        "w",
        json!({"volumes": null,
            "accessCredentials": [{"sshPublicKey": {"source": {"secret": {"secretName": "admin-key"}},
                "propagationMethod": {"qemuGuestAgent": {"users": ["cloud-user"]}}}}]}),
    );
    vm_api(&client)
        .create(&PostParams::default(), &vm)
        .await
        .unwrap();
    let offline = until(&vmis(&client), "w", "credentials offline", |v| {
        condition(v, "AccessCredentialsSynchronized")["status"] == "False"
    })
    .await;
    assert_eq!(
        condition(&offline, "AccessCredentialsSynchronized")["message"],
        "Guest agent is offline"
    );
    agent_connected(&client, "w").await;
    let deadline = tokio::time::Instant::now() + BUDGET;
    let refused = loop {
        match ssh(&client, "w", KEY_FILE, "true").await {
            Err(e) if e.contains("port-forward answered 500") => {}
            Err(e) => break e,
            Ok(_) => panic!("the key was accepted before it was propagated"),
        }
        assert!(tokio::time::Instant::now() < deadline, "sshd never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(refused.to_lowercase().contains("public key"), "{refused}");
    let synced = value(&vmis(&client).get("w").await.unwrap());
    assert_eq!(
        condition(&synced, "AccessCredentialsSynchronized")["status"],
        "False",
        "the key was refused after it was synchronised"
    );
    until(&vmis(&client), "w", "credentials synchronised", |v| {
        condition(v, "AccessCredentialsSynchronized")["status"] == "True"
    })
    .await;
    logged_in(&client, "default", "w", "cloud-user").await;
    let events = api(&client, "Event", "events")
        .list(&Default::default())
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .map(value)
            .any(|e| e["reason"] == "AccessCredentialsSyncFailed"
                && e["message"] == "Access credentials sync failed: Guest agent is offline"),
        "no AccessCredentialsSyncFailed event"
    );
}

/// A Windows VM booted from the image alone (no cloud-init, no accessCredentials).
async fn windows_from_its_image(client: &kube::Client, name: &str) {
    let mut vm = value(&rhel_vm(name, json!({"volumes": null})));
    vm["spec"]["template"]["metadata"]["annotations"] = json!({"vm.kubevirt.io/os": "windows2k22"});
    let vm: DynamicObject = serde_json::from_value(vm).unwrap();
    vm_api(client)
        .create(&PostParams::default(), &vm)
        .await
        .unwrap();
    agent_connected(client, name).await;
}

/// Logs in to VMI `name` with `credential` once sshd listens (the port-forward's dial is
/// refused until then); returns the login's answer.
async fn once_sshd_listens(
    client: &kube::Client,
    name: &str,
    user: &str,
    credential: Credential,
) -> Result<(String, i32), String> {
    let deadline = tokio::time::Instant::now() + BUDGET;
    loop {
        match ssh_with(
            client,
            "default",
            name,
            user,
            credential.clone(),
            "hostname",
        )
        .await
        {
            Err(e) if e.contains("port-forward answered 500") => {}
            answer => return answer,
        }
        assert!(tokio::time::Instant::now() < deadline, "sshd never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// openssh-portable auth2-passwd.c `userauth_passwd` and servconf.c
/// `fill_default_server_options`: Win32-OpenSSH allows password authentication by default, so
/// the Administrator password the Windows image was built with logs in (the downstream suite
/// logs in to Windows that way, without keys); a wrong password is an SSH_MSG_USERAUTH_FAILURE,
/// which libssh2 reports as a failed username/password authentication.
#[tokio::test]
async fn a_windows_image_takes_its_administrator_password_and_refuses_a_wrong_one() {
    let (_sim, client) = cluster().await;
    windows_from_its_image(&client, "win").await;
    let image = vstp_sim::guest::distro::WINDOWS_IMAGE_PASSWORD.to_string();
    let (_, code) = once_sshd_listens(&client, "win", "Administrator", Credential::Password(image))
        .await
        .expect("the image's password logs in");
    assert_eq!(code, 0);
    let wrong = Credential::Password("not-the-password".into());
    let refused = once_sshd_listens(&client, "win", "Administrator", wrong)
        .await
        .expect_err("a wrong password was accepted");
    assert!(
        refused.contains("Authentication failed (username/password)"),
        "{refused}"
    );
}

//! A Windows guest: chosen by the VM's OS annotation, reached as Administrator with a key from
//! accessCredentials, answering the harness's PowerShell pipelines in PowerShell's shapes.

use super::*;

async fn boot_windows(client: &kube::Client) -> Value {
    let secret: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "admin-key", "namespace": "default"}, "stringData": {"key": PUBLIC_KEY}}))
    .unwrap();
    api(client, "Secret", "secrets")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let mut vm = value(&rhel_vm(
        "win1",
        json!({
            "volumes": null,
            "accessCredentials": [{"sshPublicKey": {"source": {"secret": {"secretName": "admin-key"}},
                "propagationMethod": {"qemuGuestAgent": {"users": ["Administrator"]}}}}],
        }),
    ));
    vm["spec"]["template"]["metadata"]["annotations"] = json!({"vm.kubevirt.io/os": "windows2k22"});
    let vm: DynamicObject = serde_json::from_value(vm).unwrap();
    api(client, "VirtualMachine", "virtualmachines")
        .create(&PostParams::default(), &vm)
        .await
        .unwrap();
    let vmi = until(&vmis(client), "win1", "agent-connected", |v| {
        cond(v, "AgentConnected").as_deref() == Some("True")
    })
    .await;
    logged_in(client, "default", "win1", "Administrator").await;
    vmi
}

async fn powershell(client: &kube::Client, script: &str) -> (String, i32) {
    let command = format!("powershell -NoProfile -Command \"{script}\"");
    ssh_as(client, "win1", "Administrator", KEY_FILE, &command)
        .await
        .unwrap()
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("ConvertTo-Json output parses ({e}):\n{text}"))
}

#[tokio::test]
async fn a_windows_guest_answers_powershell_as_administrator() {
    let (_sim, client) = cluster().await;
    let vmi = boot_windows(&client).await;
    assert_eq!(
        vmi["status"]["guestOSInfo"]["id"], "mswindows",
        "{}",
        vmi["status"]["guestOSInfo"]
    );
    let refused = ssh_as(&client, "win1", "cloud-user", KEY_FILE, "hostname")
        .await
        .unwrap_err();
    assert!(refused.contains("public key"), "{refused}");

    let (cpus, code) = powershell(&client, "$env:NUMBER_OF_PROCESSORS").await;
    assert_eq!((cpus.as_str(), code), ("2\r\n", 0));
    let (memory, _) = powershell(
        &client,
        "(Get-CimInstance Win32_ComputerSystem).TotalPhysicalMemory",
    )
    .await;
    let memory: u64 = memory.trim().parse().unwrap();
    assert!(memory > 900 << 20 && memory <= 1 << 30, "{memory}");
    let boot_script =
        "(Get-CimInstance Win32_OperatingSystem).LastBootUpTime.ToUniversalTime().ToString('o')";
    let (boot, _) = powershell(&client, boot_script).await;
    assert!(
        chrono::DateTime::parse_from_rfc3339(boot.trim()).is_ok(),
        "{boot:?}"
    );

    let (adapters, _) = powershell(
        &client,
        "Get-NetAdapter | Select-Object Name,MacAddress,Status | ConvertTo-Json",
    )
    .await;
    let adapter = json_of(&adapters);
    let mac = vmi["status"]["interfaces"][0]["mac"]
        .as_str()
        .unwrap()
        .replace(':', "-")
        .to_uppercase();
    assert_eq!(
        (adapter["MacAddress"].as_str(), adapter["Status"].as_str()),
        (Some(mac.as_str()), Some("Up"))
    );
    let (addresses, _) = powershell(&client, "Get-NetIPAddress | Select-Object InterfaceAlias,IPAddress,PrefixLength,AddressFamily | ConvertTo-Json").await;
    // Masquerade: the guest holds 10.0.2.2; the VMI status reports the pod's address.
    let ip = "10.0.2.2";
    let addresses = json_of(&addresses);
    let listed = addresses
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![addresses.clone()]);
    assert!(
        listed
            .iter()
            .any(|a| a["IPAddress"] == ip && a["AddressFamily"] == 2),
        "{listed:?}"
    );

    // Windows OpenSSH's job object ends what the session started when its command returns;
    // a process WMI creates is not in that job.
    let (started, _) =
        powershell(&client, "(Start-Process -FilePath 'ping.exe' -PassThru).Id").await;
    let (_, code) = powershell(&client, &format!("Get-Process -Id {}", started.trim())).await;
    assert_eq!(code, 1, "a Start-Process child outlived its session");
    let (created, _) = powershell(&client, "(Invoke-CimMethod -ClassName Win32_Process -MethodName Create -Arguments @{CommandLine='ping.exe'}).ProcessId").await;
    let pid = created.trim();
    assert_eq!(
        powershell(&client, &format!("get-process -erroraction stop -id {pid}"))
            .await
            .1,
        0
    );
    let (missing, code) = ssh_as(
        &client,
        "win1",
        "Administrator",
        KEY_FILE,
        "powershell -Command \"Get-Process -Id 999999 -ErrorAction Stop | Out-Null\"",
    )
    .await
    .unwrap();
    assert_eq!(code, 1, "{missing}");
    let (processes, _) = powershell(
        &client,
        "Get-Process | Select-Object Id,ProcessName | ConvertTo-Json",
    )
    .await;
    assert!(
        json_of(&processes)
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["Id"].as_u64() == pid.parse().ok()),
        "{processes}"
    );
    let (_, code) = powershell(&client, "Get-Frobnicator").await;
    assert_eq!(code, 1, "an unknown cmdlet fails like PowerShell");
}

/// `Win32_OperatingSystem.<property>`, a DateTime, as the guest prints it in round-trip form.
async fn os_time(client: &kube::Client, property: &str) -> chrono::DateTime<chrono::Utc> {
    let script = format!(
        "(Get-CimInstance Win32_OperatingSystem).{property}.ToUniversalTime().ToString('o')"
    );
    let (out, code) = powershell(client, &script).await;
    assert_eq!(code, 0, "{out}");
    chrono::DateTime::parse_from_rfc3339(out.trim())
        .unwrap_or_else(|e| panic!("{property} {out:?}: {e}"))
        .to_utc()
}

fn paused(v: &Value) -> bool {
    cond(v, "Paused").as_deref() == Some("True")
}

async fn vmi_action(client: &kube::Client, action: &str) {
    let path =
        format!("/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachineinstances/win1/{action}");
    let (code, body) = raw(client, "PUT", &path, "application/json", b"{}".to_vec()).await;
    assert_eq!(code, 200, "{action}: {body}");
}

/// While paused the guest's clock stands still, so it is behind once unpaused; virt-launcher
/// then sets it through the agent a second later (kubevirt v1.9.0 pkg/virt-launcher/virtwrap/
/// manager.go setGuestTime after UnpauseVMI), and LastBootUpTime, the clock less the tick
/// count, moves forward by the pause within the same boot. Once per virt-launcher only.
#[tokio::test]
async fn after_a_pause_the_guest_clock_is_behind_until_the_agent_sets_it_moving_the_boot_time() {
    let (_sim, client) = cluster().await;
    boot_windows(&client).await;
    let booted = os_time(&client, "LastBootUpTime").await;
    vmi_action(&client, "pause").await;
    // The user keeps it paused for a minute (one real second here).
    holds(&vmis(&client), "win1", 60.0, "paused", paused).await;
    vmi_action(&client, "unpause").await;
    // Right after: the pause shows as the clock behind, or (once set) as the boot time moved;
    // the clock is read first, so a set in between shows in both.
    let clock = os_time(&client, "LocalDateTime").await;
    let stepped = os_time(&client, "LastBootUpTime").await;
    let host = chrono::Utc::now();
    let pause = chrono::Duration::seconds(1);
    assert!(
        (stepped - booted) + (host - clock) >= pause,
        "neither behind nor stepped: booted {booted}, now {stepped}; clock {clock} at {host}"
    );
    // A few modelled seconds on, the agent has set the clock: not behind any more, and the
    // boot time later by the pause.
    holds(&vmis(&client), "win1", 5.0, "running", |v| !paused(v)).await;
    let host = chrono::Utc::now();
    let clock = os_time(&client, "LocalDateTime").await;
    assert!(clock >= host, "still behind: {clock} read at {host}");
    let stepped = os_time(&client, "LastBootUpTime").await;
    assert!(stepped - booted >= pause, "booted {booted}, now {stepped}");
    // virt-launcher sets the time once per process (`setTimeOnce`): after a second pause on
    // the same launcher the clock stays behind, however long one waits.
    vmi_action(&client, "pause").await;
    holds(&vmis(&client), "win1", 60.0, "paused", paused).await;
    vmi_action(&client, "unpause").await;
    holds(&vmis(&client), "win1", 5.0, "running", |v| !paused(v)).await;
    let clock = os_time(&client, "LocalDateTime").await;
    let host = chrono::Utc::now();
    assert!(host - clock >= pause, "set again: {clock} read by {host}");
}

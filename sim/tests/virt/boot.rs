//! A VM boots through the upstream phases; its guest answers SSH.

use super::*;

#[tokio::test]
async fn a_vm_boots_through_the_upstream_phases_with_its_launcher_pod_and_guest_agent() {
    let (_sim, client) = cluster().await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let phases: Vec<&str> = vmi["status"]["phaseTransitionTimestamps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["Pending", "Scheduling", "Scheduled", "Running"]);
    assert_eq!(cond(&vmi, "Ready").as_deref(), Some("True"));
    assert_eq!(cond(&vmi, "LiveMigratable").as_deref(), Some("True"));
    let node = vmi["status"]["nodeName"].as_str().unwrap();
    assert!(node.starts_with("worker-"), "{node}");
    assert_eq!(vmi["metadata"]["labels"]["kubevirt.io/nodeName"], node);
    assert_eq!(
        vmi["status"]["currentCPUTopology"],
        json!({"sockets": 1, "cores": 2, "threads": 1})
    );
    assert_eq!(vmi["status"]["memory"]["guestAtBoot"], "1Gi");
    assert_eq!(
        vmi["spec"]["domain"]["cpu"]["maxSockets"], 4,
        "maxSockets = sockets × maxHotplugRatio"
    );
    let iface = &vmi["status"]["interfaces"][0];
    assert_eq!(iface["infoSource"], "domain, guest-agent");
    assert_eq!(iface["podInterfaceName"], "eth0");
    assert_eq!(iface["interfaceName"], "eth0");
    // KubeMacPool gave the template interface its MAC, and the VMI uses it.
    let vm = value(
        &api(&client, "VirtualMachine", "virtualmachines")
            .get("vm1")
            .await
            .unwrap(),
    );
    assert_eq!(
        vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0]["macAddress"],
        iface["mac"]
    );
    assert_eq!(vm["status"]["printableStatus"], "Running");
    let pods = pods(&client)
        .list(&kube::api::ListParams::default().labels("kubevirt.io=virt-launcher"))
        .await
        .unwrap();
    let pod = value(&pods.items[0]);
    assert!(pod["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("virt-launcher-vm1-"));
    assert_eq!(
        pod["metadata"]["labels"]["kubevirt.io/created-by"],
        vmi["metadata"]["uid"]
    );
    assert_eq!(pod["spec"]["nodeName"], node);
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(
        vmi["status"]["interfaces"][0]["ipAddress"],
        pod["status"]["podIP"]
    ); // The harness scales its budgets by the simulator's published time scale.
    let cm = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "kube-system",
        &resource("", "v1", "ConfigMap", "configmaps"),
    );
    let cm = value(&cm.get("vstp-sim").await.unwrap());
    assert_eq!(
        cm["data"]["timeScale"],
        vstp_sim::DEFAULT_TIME_SCALE.to_string()
    );
}

#[tokio::test]
async fn guest_ssh_answers_linux_commands_in_their_real_formats_and_refuses_unknown_keys() {
    let (_sim, client) = cluster().await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let (boot_id, code) = ssh(&client, "vm1", KEY_FILE, BOOT_ID).await.unwrap();
    assert_eq!(code, 0);
    assert_eq!(boot_id.trim().len(), 36, "a UUID: {boot_id}");
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, "nproc").await.unwrap().0,
        "2\n"
    );
    let (links, _) = ssh(&client, "vm1", KEY_FILE, "ip -j link").await.unwrap();
    let links: Value = serde_json::from_str(&links).unwrap();
    assert_eq!(links[1]["ifname"], "eth0");
    assert_eq!(links[1]["address"], vmi["status"]["interfaces"][0]["mac"]);
    let (pid, _) = ssh(
        &client,
        "vm1",
        KEY_FILE,
        "sh -c 'while :; do dd if=/dev/urandom of=/dev/shm/dirty bs=1M count=350 conv=notrunc status=none; done' >/dev/null 2>&1 & echo $!",
    )
    .await
    .unwrap();
    let pid: u32 = pid.trim().parse().unwrap();
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, &format!("kill -0 {pid}"))
            .await
            .unwrap()
            .1,
        0
    );
    assert_eq!(
        ssh(&client, "vm1", KEY_FILE, "kill -0 999999")
            .await
            .unwrap()
            .1,
        1
    );
    let (out, code) = ssh(&client, "vm1", KEY_FILE, "frobnicate --now")
        .await
        .unwrap();
    assert_eq!((out.as_str(), code), ("", 127));
    let err = ssh(&client, "vm1", OTHER_KEY_FILE, "true")
        .await
        .unwrap_err();
    assert!(err.contains("bad username/public key combination"), "{err}");
}

/// Under the bare-metal durations a Windows guest's first boot (specialize pass, OOBE) takes
/// minutes where a RHEL guest takes seconds: the Windows VM, created first, still has no agent
/// when the RHEL one has. With the simulator's durations both boot alike and the Windows VM's
/// agent comes first.
#[tokio::test]
async fn bare_metal_durations_boot_windows_far_slower_than_rhel() {
    let durations = vstp_sim::durations::Durations::bare_metal();
    let (_sim, client) = cluster_with_durations(durations, 100.0).await;
    let mut win = value(&rhel_vm("win1", json!({})));
    win["spec"]["template"]["metadata"]["annotations"] =
        json!({"vm.kubevirt.io/os": "windows2k22"});
    let vms = api(&client, "VirtualMachine", "virtualmachines");
    for vm in [
        serde_json::from_value(win).unwrap(),
        rhel_vm("rhel1", json!({})),
    ] {
        vms.create(&PostParams::default(), &vm).await.unwrap();
    }
    let agent = |v: &Value| cond(v, "AgentConnected").as_deref() == Some("True");
    until(&vmis(&client), "rhel1", "agent-connected", agent).await;
    let windows = value(&vmis(&client).get("win1").await.unwrap());
    assert!(
        !agent(&windows),
        "the Windows guest's agent connected no later than the RHEL guest's: {}",
        windows["status"]
    );
    let windows = until(&vmis(&client), "win1", "agent-connected", agent).await;
    assert_eq!(windows["status"]["guestOSInfo"]["id"], "mswindows");
}

//! Tests of the VM builder.

use super::*;

fn image() -> Image {
    Image::ContainerDisk("registry.example/rhel9:latest".into())
}

#[test]
fn a_password_of_digits_stays_a_string_in_the_cloud_config() {
    for password in ["1234567890123456", "1234e56789012345", "0123456789abcdef"] {
        let mut spec = VmSpec::rhel("vm-a", image()).with_login("cloud-user", "ssh-ed25519 AAAA k");
        spec.console_password = Some(password.into());
        let text = spec.user_data();
        assert!(text.starts_with("#cloud-config\n"), "{text}");
        let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("valid YAML");
        assert_eq!(doc["password"], json!(password), "{text}");
        assert_eq!(
            doc["ssh_authorized_keys"][0],
            json!("ssh-ed25519 AAAA k"),
            "{text}"
        );
        assert_eq!(doc["chpasswd"]["expire"], json!(false), "{text}");
    }
}

#[test]
fn requested_addresses_are_a_map_from_the_pod_interface_to_bare_addresses() {
    let ip: std::net::IpAddr = "10.100.0.200".parse().unwrap();
    let vm = VmSpec::rhel("vm-a", image())
        .with_pod_nic(Nic::primary_udn())
        .requesting_addresses(&[ip])
        .build();
    let annotations = &vm["spec"]["template"]["metadata"]["annotations"];
    let value = annotations["network.kubevirt.io/addresses"]
        .as_str()
        .unwrap();
    assert_eq!(value, r#"{"default":["10.100.0.200"]}"#);
}

#[test]
fn a_pod_nic_cloud_init_configures_gets_a_pool_mac_its_network_data_matches() {
    let pool = std::sync::Arc::new(super::super::mac::MacPool::new(
        super::super::mac::MacRange::LOCAL,
        "run-1",
    ));
    let gateway: std::net::IpAddr = "10.100.0.1".parse().unwrap();
    let network_data = |nic: Nic| {
        let vm = VmSpec::rhel("vm-a", image())
            .with_macs(MacSource::new(pool.clone(), "trial"))
            .with_pod_nic(nic)
            .build();
        let spec = &vm["spec"]["template"]["spec"];
        let mac = spec["domain"]["devices"]["interfaces"][0]["macAddress"].clone();
        let data = spec["volumes"][1]["cloudInitNoCloud"]["networkData"]
            .as_str()
            .unwrap()
            .to_string();
        let data: Value = serde_saphyr::from_str(&data).unwrap();
        (mac, data["ethernets"]["default"].clone())
    };
    let statics = Nic::primary_udn()
        .with_addresses(&["10.100.0.200/16"])
        .with_gateway(gateway);
    let (mac, eth) = network_data(statics);
    assert_eq!(mac, json!(pool.mac_for("trial", "vm-a", "default")));
    assert_eq!(eth["match"]["macaddress"], mac);
    assert_eq!(eth["addresses"], json!(["10.100.0.200/16"]));
    assert_eq!(
        eth["routes"],
        json!([{"to": "default", "via": "10.100.0.1"}])
    );
    assert!(eth["dhcp4"].is_null());
    let (mac, eth) = network_data(Nic::primary_udn().on_dhcp());
    assert_eq!(
        (eth["dhcp4"].clone(), eth["match"]["macaddress"].clone()),
        (json!(true), mac)
    );
    let (mac, eth) = network_data(Nic::primary_udn());
    assert!(mac.is_null() && eth.is_null(), "{mac} {eth}");
}

#[test]
fn a_bridge_nic_gets_a_mac_from_the_pool_and_its_addresses_by_that_mac() {
    let pool = std::sync::Arc::new(super::super::mac::MacPool::new(
        super::super::mac::MacRange::LOCAL,
        "run-1",
    ));
    let vm = VmSpec::rhel("vm-a", image())
        .with_macs(MacSource::new(pool.clone(), "trial"))
        .with_nic(Nic::bridge("net1", "vlan10").with_addresses(&["10.200.0.1/24"]))
        .with_login("cloud-user", "ssh-ed25519 AAAA test")
        .build();
    let spec = &vm["spec"]["template"]["spec"];
    let mac = spec["domain"]["devices"]["interfaces"][1]["macAddress"]
        .as_str()
        .unwrap();
    assert_eq!(mac, pool.mac_for("trial", "vm-a", "net1"));
    assert!(mac.starts_with("02:"));
    assert_eq!(spec["networks"][1]["multus"]["networkName"], "vlan10");
    let data = spec["volumes"][1]["cloudInitNoCloud"]["networkData"]
        .as_str()
        .unwrap();
    let data: Value = serde_saphyr::from_str(data).unwrap();
    assert_eq!(data["ethernets"]["net1"]["match"]["macaddress"], mac);
    assert_eq!(data["ethernets"]["net1"]["addresses"][0], "10.200.0.1/24");
    let user = spec["volumes"][1]["cloudInitNoCloud"]["userData"]
        .as_str()
        .unwrap();
    assert!(user.contains("ssh-ed25519 AAAA test"), "{user}");
}

#[test]
fn a_data_source_image_is_cloned_into_a_migratable_data_volume() {
    let image = Image::DataSource {
        name: "rhel9".into(),
        namespace: "openshift-virtualization-os-images".into(),
        size: "30Gi".into(),
        storage_class: Some("ceph-rbd".into()),
    };
    let vm = VmSpec::rhel("vm-a", image).build();
    let dv = &vm["spec"]["dataVolumeTemplates"][0];
    assert_eq!(dv["metadata"]["name"], "vm-a-rootdisk");
    assert_eq!(dv["spec"]["sourceRef"]["name"], "rhel9");
    assert_eq!(dv["spec"]["storage"]["accessModes"][0], "ReadWriteMany");
    assert_eq!(dv["spec"]["storage"]["storageClassName"], "ceph-rbd");
    let root = &vm["spec"]["template"]["spec"]["volumes"][0];
    assert_eq!(root["dataVolume"]["name"], "vm-a-rootdisk");
}

#[test]
fn windows_logs_in_through_access_credentials_and_hotplug_limits_are_set() {
    let vm = VmSpec::windows("win", image())
        .with_cpu(2, 4)
        .with_memory("4Gi", "8Gi")
        .with_login("Administrator", "ssh-ed25519 AAAA")
        .build();
    let spec = &vm["spec"]["template"]["spec"];
    assert_eq!(spec["domain"]["cpu"]["maxSockets"], 4);
    assert_eq!(spec["domain"]["memory"]["maxGuest"], "8Gi");
    assert_eq!(
        spec["accessCredentials"][0]["sshPublicKey"]["source"]["secret"]["secretName"],
        "win-ssh-key"
    );
    assert_eq!(
        vm["spec"]["template"]["metadata"]["annotations"]["vm.kubevirt.io/os"],
        "windows2k22"
    );
}

#[test]
fn a_named_preference_is_the_vm_s_cluster_preference() {
    let vm = VmSpec::windows("win", image())
        .with_preference("windows.2k22")
        .build();
    assert_eq!(
        vm["spec"]["preference"],
        json!({"kind": "VirtualMachineClusterPreference", "name": "windows.2k22"})
    );
    assert!(VmSpec::windows("win", image()).build()["spec"]["preference"].is_null());
}

#[test]
fn a_vm_kept_on_nodes_has_a_required_affinity_on_their_names() {
    let nodes = vec!["worker-0".to_string(), "worker-2".to_string()];
    let vm = VmSpec::rhel("vm-a", image()).on_nodes(&nodes).build();
    let required = &vm["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"];
    assert_eq!(
        required["nodeSelectorTerms"][0]["matchFields"][0],
        json!({"key": "metadata.name", "operator": "In", "values": ["worker-0", "worker-2"]})
    );
    let anywhere = VmSpec::rhel("vm-b", image()).build();
    assert!(anywhere["spec"]["template"]["spec"]["affinity"].is_null());
}

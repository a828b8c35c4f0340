//! The Windows Server cluster preferences KubeVirt deploys from kubevirt/common-instancetypes
//! (virt-operator's `commonInstancetypesDeployment`), composed as that repository's kustomize
//! components compose them: preferences/windows/base (Hyper-V enlightenments and timers,
//! sockets, SATA disks, e1000e NICs, a USB tablet, an hour to shut down), then per release
//! (2k22/2k25: persistent EFI, persistent TPM, Secure Boot with SMM; 2k16/2k19: Secure Boot
//! only), and the `.virtio` variants (virtio disks, NICs, tablet and video).

use serde_json::{json, Value};

/// The releases served, with their display names.
const RELEASES: &[(&str, &str, bool)] = &[
    ("2k16", "Microsoft Windows Server 2016", false),
    ("2k19", "Microsoft Windows Server 2019", false),
    ("2k22", "Microsoft Windows Server 2022", true),
    ("2k25", "Microsoft Windows Server 2025", true),
];

/// Every Windows Server VirtualMachineClusterPreference, `windows.2k22`, `windows.2k22.virtio`, …
pub fn windows_preferences() -> Vec<Value> {
    let mut out = Vec::new();
    for (release, display, persistent) in RELEASES {
        let spec = release_spec(*persistent);
        let name = format!("windows.{release}");
        out.push(preference(&name, display, spec.clone()));
        let display = format!("{display} (virtio)");
        out.push(preference(
            &format!("{name}.virtio"),
            &display,
            virtio(spec),
        ));
    }
    out
}

fn preference(name: &str, display: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "instancetype.kubevirt.io/v1beta1",
        "kind": "VirtualMachineClusterPreference",
        "metadata": {
            "name": name,
            "labels": {"instancetype.kubevirt.io/vendor": "kubevirt.io",
                       "instancetype.kubevirt.io/os-type": "windows",
                       "instancetype.kubevirt.io/required-cpu": "1",
                       "instancetype.kubevirt.io/required-memory": "2Gi"},
            "annotations": {"openshift.io/display-name": display,
                            "openshift.io/provider-display-name": "KubeVirt",
                            "iconClass": "icon-windows",
                            "tags": "hidden,kubevirt,windows"},
        },
        "spec": spec,
    })
}

/// preferences/windows/base with components hyperv, cpu-topology-sockets, diskbus-sata,
/// interfacemodel-e1000e, tablet-usb and termination-grace-period; then the release's
/// requirements, efi-persisted + tpm (2k22, 2k25) and secureboot.
fn release_spec(persistent: bool) -> Value {
    let mut spec = json!({
        "annotations": {"vm.kubevirt.io/os": "windows"},
        "clock": {
            "preferredClockOffset": {"utc": {}},
            "preferredTimer": {"hpet": {"present": false}, "pit": {"tickPolicy": "delay"},
                               "rtc": {"tickPolicy": "catchup"}, "hyperv": {}},
        },
        "features": {
            "preferredAcpi": {},
            "preferredApic": {},
            "preferredHyperv": {
                "relaxed": {}, "vapic": {}, "vpindex": {}, "spinlocks": {"spinlocks": 8191},
                "synic": {}, "synictimer": {"direct": {}}, "tlbflush": {}, "frequencies": {},
                "reenlightenment": {}, "ipi": {}, "runtime": {}, "reset": {},
            },
            "preferredSmm": {},
        },
        "cpu": {"preferredCPUTopology": "sockets"},
        "devices": {"preferredDiskBus": "sata", "preferredInterfaceModel": "e1000e",
                    "preferredAutoattachInputDevice": true},
        "preferredTerminationGracePeriodSeconds": 3600,
        "requirements": {"cpu": {"guest": 1}, "memory": {"guest": "2Gi"}},
        "firmware": {"preferredEfi": {"secureBoot": true}},
    });
    if persistent {
        spec["firmware"]["preferredEfi"] = json!({"persistent": true, "secureBoot": true});
        spec["devices"]["preferredTPM"] = json!({"persistent": true});
    }
    spec
}

/// The `_virtio` overlay: diskbus-virtio-blk, interfacemodel-virtio-net, tablet-virtio,
/// videotype-virtio.
fn virtio(mut spec: Value) -> Value {
    let devices = &mut spec["devices"];
    devices["preferredDiskBus"] = json!("virtio");
    devices["preferredInterfaceModel"] = json!("virtio");
    devices["preferredInputBus"] = json!("virtio");
    devices["preferredInputType"] = json!("tablet");
    devices["preferredVideoType"] = json!("virtio");
    spec
}

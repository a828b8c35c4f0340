//! A preference applied to a VMI spec: each `preferred…` value fills the matching VMI field
//! only where the VM's template left it unset (kubevirt v1.9.0
//! pkg/instancetype/preference/apply/vmi.go `Apply`, one function per file there).

use serde_json::{json, Map, Value};

use crate::obj;

/// Applies preference `spec` to the VMI's `vmi_spec` and `metadata`, and records which
/// preference `vm` named (pkg/instancetype/preference/annotations/annotations.go `Set`).
pub fn apply(preference: &Value, vm: &Value, vmi_spec: &mut Value, metadata: &mut Value) {
    features(&preference["features"], vmi_spec);
    firmware(&preference["firmware"], vmi_spec);
    clock(&preference["clock"], vmi_spec);
    devices(&preference["devices"], vmi_spec);
    termination(preference, vmi_spec);
    annotations(&preference["annotations"], metadata);
    let key = match vm["spec"]["preference"]["kind"]
        .as_str()
        .map(str::to_lowercase)
    {
        Some(k) if k.starts_with("virtualmachinepreference") => "kubevirt.io/preference-name",
        _ => "kubevirt.io/cluster-preference-name",
    };
    obj::ensure(metadata, "/annotations")[key] = vm["spec"]["preference"]["name"].clone();
}

/// Sets `target[field]` to `value` unless the VMI has it already.
fn fill(target: &mut Value, field: &str, value: &Value) {
    if !value.is_null() && target[field].is_null() {
        target[field] = value.clone();
    }
}

/// pkg/instancetype/preference/apply/features.go `applyFeaturePreferences` and
/// `applyHyperVFeaturePreferences`: ACPI is replaced, the rest filled field by field.
fn features(preferred: &Value, spec: &mut Value) {
    if preferred.is_null() {
        return;
    }
    let features = obj::ensure(spec, "/domain/features");
    if !preferred["preferredAcpi"].is_null() {
        features["acpi"] = preferred["preferredAcpi"].clone();
    }
    for (field, from) in [
        ("apic", "preferredApic"),
        ("kvm", "preferredKvm"),
        ("pvspinlock", "preferredPvspinlock"),
        ("smm", "preferredSmm"),
    ] {
        fill(features, field, &preferred[from]);
    }
    if let Some(hyperv) = preferred["preferredHyperv"].as_object() {
        let target = obj::ensure(features, "/hyperv");
        for (field, value) in hyperv {
            fill(target, field, value);
        }
    }
}

/// pkg/instancetype/preference/apply/firmware.go `applyFirmwarePreferences`: the preferred
/// EFI only when the template chose no bootloader.
fn firmware(preferred: &Value, spec: &mut Value) {
    if preferred.is_null() {
        return;
    }
    let bootloader = obj::ensure(spec, "/domain/firmware/bootloader");
    let chosen = !bootloader["efi"].is_null() || !bootloader["bios"].is_null();
    if preferred["preferredUseBios"] == true && !chosen {
        bootloader["bios"] = json!({});
    }
    if !chosen && !preferred["preferredEfi"].is_null() && bootloader["bios"].is_null() {
        bootloader["efi"] = preferred["preferredEfi"].clone();
    }
}

/// pkg/instancetype/preference/apply/clock.go `applyClockPreferences`: the offset unless
/// the template set `utc` or `timezone`, the timers unless it set any.
fn clock(preferred: &Value, spec: &mut Value) {
    if preferred.is_null() {
        return;
    }
    let clock = obj::ensure(spec, "/domain/clock");
    let offset_set = !clock["utc"].is_null() || !clock["timezone"].is_null();
    if let (Some(offset), false) = (preferred["preferredClockOffset"].as_object(), offset_set) {
        for (field, value) in offset {
            clock[field] = value.clone();
        }
    }
    fill(clock, "timer", &preferred["preferredTimer"]);
}

/// pkg/instancetype/preference/apply/device.go `ApplyDevicePreferences`, with disk.go
/// `applyDiskPreferences` and interface.go `applyInterfacePreferences`.
fn devices(preferred: &Value, spec: &mut Value) {
    if preferred.is_null() {
        return;
    }
    let devices = obj::ensure(spec, "/domain/devices");
    fill(devices, "tpm", &preferred["preferredTPM"]);
    fill(devices, "rng", &preferred["preferredRng"]);
    fill(
        devices,
        "autoattachInputDevice",
        &preferred["preferredAutoattachInputDevice"],
    );
    if let Some(video) = preferred["preferredVideoType"].as_str() {
        let target = obj::ensure(devices, "/video");
        if target["type"].as_str().unwrap_or_default().is_empty() {
            target["type"] = json!(video);
        }
    }
    for disk in devices["disks"].as_array_mut().into_iter().flatten() {
        let cdrom_or_lun = !disk["cdrom"].is_null() || !disk["lun"].is_null();
        if cdrom_or_lun {
            continue;
        }
        fill(
            obj::ensure(disk, "/disk"),
            "bus",
            &preferred["preferredDiskBus"],
        );
    }
    for iface in devices["interfaces"].as_array_mut().into_iter().flatten() {
        fill(iface, "model", &preferred["preferredInterfaceModel"]);
    }
    for input in devices["inputs"].as_array_mut().into_iter().flatten() {
        fill(input, "bus", &preferred["preferredInputBus"]);
        fill(input, "type", &preferred["preferredInputType"]);
    }
}

/// pkg/instancetype/preference/apply/termination.go `applyTerminationGracePeriodSeconds`.
fn termination(preference: &Value, spec: &mut Value) {
    let seconds = &preference["preferredTerminationGracePeriodSeconds"];
    fill(spec, "terminationGracePeriodSeconds", seconds);
}

/// pkg/instancetype/preference/apply/annotations.go `applyPreferenceAnnotations`: the
/// preference's annotations where the VMI has none of that key.
fn annotations(preferred: &Value, metadata: &mut Value) {
    let Some(preferred) = preferred.as_object() else {
        return;
    };
    let target = obj::ensure(metadata, "/annotations");
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    for (key, value) in preferred {
        fill(target, key, value);
    }
}

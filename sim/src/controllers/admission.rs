//! KubeVirt's and KubeMacPool's webhooks: VMIM validation and mutation, VM checks and MAC
//! allocation.

use serde_json::{json, Value};

use super::{launcher, migration, Ctx};
use crate::error::{ApiError, ApiResult, Cause};
use crate::kinds::{self, KindId};
use crate::obj;
use crate::store::{Selectors, Store};

fn denied(webhook: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("admission webhook \"{webhook}\" denied the request: {message}"),
    )
}

pub fn kubemacpool_opted_out(store: &Store, kind: KindId, object: &Value) -> bool {
    kind == kinds::VMS
        && store
            .get(kinds::NAMESPACES, "", obj::namespace(object))
            .is_some_and(|ns| {
                obj::label(&ns, "mutatevirtualmachines.kubemacpool.io") == Some("ignore")
            })
}

pub fn create(
    store: &Store,
    kind: KindId,
    object: &mut Value,
    kmp_opted_out: bool,
) -> ApiResult<()> {
    match kind {
        kinds::VMIMS => admit_migration(store, object, true),
        kinds::VMS => admit_vm(object, kmp_opted_out),
        _ => Ok(()),
    }
}

pub fn update(kind: KindId, old: &Value, new: &mut Value, kmp_opted_out: bool) -> ApiResult<()> {
    match kind {
        kinds::VMS => admit_vm(new, kmp_opted_out),
        kinds::NAMESPACES => primary_label_fixed(old, new),
        _ => Ok(()),
    }
}

/// OVN-K's ValidatingAdmissionPolicy: a namespace gets or loses its primary-UDN label only at
/// creation.
fn primary_label_fixed(old: &Value, new: &Value) -> ApiResult<()> {
    let label = super::udn::PRIMARY_LABEL;
    if obj::label(old, label).is_some() == obj::label(new, label).is_some() {
        return Ok(());
    }
    Err(ApiError::new(422, "Invalid", format!(
        "namespaces \"{}\" is forbidden: ValidatingAdmissionPolicy 'user-defined-networks-namespace-label' with binding 'user-defined-networks-namespace-label-binding' denied request: The '{label}' label cannot be added/removed after the namespace was created",
        obj::name(old)
    )))
}

fn admit_vm(vm: &mut Value, kmp_opted_out: bool) -> ApiResult<()> {
    if !vm["spec"]["running"].is_null() && !vm["spec"]["runStrategy"].is_null() {
        return Err(denied(
            "virtualmachine-validator.kubevirt.io",
            "spec.running and spec.runStrategy are mutually exclusive; set only spec.runStrategy",
        ));
    }
    masquerade_on_pod_network_only(vm)?;
    if !kmp_opted_out {
        if let Some(ifaces) = vm
            .pointer_mut("/spec/template/spec/domain/devices/interfaces")
            .and_then(Value::as_array_mut)
        {
            for iface in ifaces.iter_mut().filter(|i| i["macAddress"].is_null()) {
                iface["macAddress"] = json!(launcher::random_mac());
            }
        }
    }
    Ok(())
}

/// KubeVirt's network admitter: masquerade is a binding of the pod network only.
fn masquerade_on_pod_network_only(vm: &Value) -> ApiResult<()> {
    let spec = &vm["spec"]["template"]["spec"];
    let pod_networks = launcher::pod_networks(spec);
    let ifaces = spec["domain"]["devices"]["interfaces"].as_array();
    for (i, iface) in ifaces.into_iter().flatten().enumerate() {
        let name = iface["name"].as_str().unwrap_or("");
        if iface["masquerade"].is_object() && !pod_networks.contains(&name) {
            return Err(denied(
                "virtualmachine-validator.kubevirt.io",
                format!("spec.template.spec.domain.devices.interfaces[{i}].name: Masquerade interface only implemented with pod network"),
            ));
        }
    }
    Ok(())
}

/// Validation and mutation of a migration; `user` requests may not set a priority.
fn admit_migration(store: &Store, m: &mut Value, user: bool) -> ApiResult<()> {
    const WEBHOOK: &str = "migration-create-validator.kubevirt.io";
    let ns = obj::namespace(m).to_string();
    let vmi_name = obj::str_at(m, "/spec/vmiName").to_string();
    if vmi_name.is_empty() {
        let kind = kinds::get(kinds::VMIMS);
        return Err(ApiError::invalid(
            kind,
            obj::name(m),
            vec![Cause {
                field: "spec.vmiName".into(),
                message: "vmiName is missing".into(),
            }],
        ));
    }
    if user && !m["spec"]["priority"].is_null() {
        return Err(denied(
            WEBHOOK,
            "Migration priority queue, only virt-controller is allowed to set priority field",
        ));
    }
    let Some(vmi) = store.get(kinds::VMIS, &ns, &vmi_name) else {
        return Err(denied(
            WEBHOOK,
            format!("the VMI \"{ns}/{vmi_name}\" does not exist"),
        ));
    };
    if matches!(obj::str_at(&vmi, "/status/phase"), "Succeeded" | "Failed") {
        return Err(denied(WEBHOOK, "Cannot migrate VMI in finalized state."));
    }
    if let Some(c) = obj::condition(&vmi, "LiveMigratable").filter(|c| c["status"] == "False") {
        return Err(denied(
            WEBHOOK,
            format!(
                "Cannot migrate VMI, Reason: {}, Message: {}",
                obj::str_at(c, "/reason"),
                obj::str_at(c, "/message")
            ),
        ));
    }
    let (others, _) = store.list(kinds::VMIMS, Some(&ns), &Selectors::default());
    if let Some(active) = others
        .iter()
        .find(|o| obj::str_at(o, "/spec/vmiName") == vmi_name && !migration::is_final(o))
    {
        return Err(denied(WEBHOOK, format!("in-flight migration detected. Active migration job ({}) is currently already in progress for VMI {vmi_name}.", obj::uid(active))));
    }
    obj::set_label(m, "kubevirt.io/vmi-name", &vmi_name);
    obj::add_finalizer(m, migration::FINALIZER);
    Ok(())
}

/// A migration created by a KubeVirt controller: the same webhooks, priority allowed.
pub fn create_migration(ctx: &Ctx, mut vmim: Value) -> ApiResult<std::sync::Arc<Value>> {
    admit_migration(&ctx.store, &mut vmim, false)?;
    ctx.store
        .create(kinds::VMIMS, vmim, crate::store::Scope::Main, false)
}

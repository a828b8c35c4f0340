//! KubeVirt's and KubeMacPool's webhooks: VMIM validation and mutation, VM checks, and
//! KubeMacPool's VM webhook (kubemacpool.rs) where the namespace did not opt out.

use serde_json::{json, Value};

use super::{kubemacpool, migration, Ctx};
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

/// A webhook's refusal with field causes: kubevirt v1.9.0 pkg/util/webhooks/webhooks.go
/// ToAdmissionResponse (the first ten causes' messages joined, reason Invalid, 422) as the API
/// server passes it on (k8s.io/apiserver webhook/errors ToStatusErr).
fn rejected(webhook: &str, causes: Vec<Cause>) -> ApiError {
    const SHOWN: usize = 10;
    let shown: Vec<&str> = causes
        .iter()
        .take(SHOWN)
        .map(|c| c.message.as_str())
        .collect();
    let mut message = shown.join(", ");
    if causes.len() > SHOWN {
        message = format!(
            "{message}, and {} more validation errors",
            causes.len() - SHOWN
        );
    }
    let causes: Vec<Value> = causes
        .iter()
        .take(SHOWN)
        .map(|c| json!({"reason": "FieldValueInvalid", "message": c.message, "field": c.field}))
        .collect();
    let mut e = denied(webhook, message);
    e.details = Some(json!({"causes": causes}));
    e
}

pub fn kubemacpool_opted_out(store: &Store, kind: KindId, object: &Value) -> bool {
    kind == kinds::VMS
        && store
            .get(kinds::NAMESPACES, "", obj::namespace(object))
            .is_some_and(|ns| {
                obj::label(&ns, "mutatevirtualmachines.kubemacpool.io") == Some("ignore")
            })
}

/// `kmp` is KubeMacPool's pool, None where the namespace opted out of it.
pub fn create(
    store: &Store,
    kind: KindId,
    object: &mut Value,
    kmp: Option<&kubemacpool::Pool>,
) -> ApiResult<()> {
    match kind {
        kinds::VMIMS => admit_migration(store, object, true),
        kinds::VMS => {
            // Mutating webhooks run before the validating ones.
            if let Some(pool) = kmp.filter(|_| !obj::deleting(object)) {
                kubemacpool::admit_create(store, pool, object)?;
            }
            admit_vm(object)
        }
        kinds::VMIS => admit_vmi(object),
        _ => Ok(()),
    }
}

pub fn update(
    kind: KindId,
    old: &Value,
    new: &mut Value,
    kmp: Option<&kubemacpool::Pool>,
) -> ApiResult<()> {
    match kind {
        kinds::VMS => {
            if let Some(pool) = kmp.filter(|_| !obj::deleting(new)) {
                kubemacpool::admit_update(pool, old, new)?;
            }
            admit_vm(new)
        }
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

/// kubevirt v1.9.0 pkg/virt-api/webhooks/validating-webhook/admitters/vms-admitter.go Admit
/// (ValidateVirtualMachineSpec: the template's network causes, then validateRunStrategy).
fn admit_vm(vm: &Value) -> ApiResult<()> {
    if obj::deleting(vm) {
        return Ok(());
    }
    let mut causes = super::netadmit::causes("spec.template.spec", &vm["spec"]["template"]["spec"]);
    if !vm["spec"]["running"].is_null() && !vm["spec"]["runStrategy"].is_null() {
        causes.push(Cause {
            field: "spec.running".into(),
            message: "Running and RunStrategy are mutually exclusive. Note that Running is deprecated, please use RunStrategy instead".into(),
        });
    }
    if !causes.is_empty() {
        return Err(rejected("virtualmachine-validator.kubevirt.io", causes));
    }
    Ok(())
}

/// kubevirt v1.9.0 admitters/vmi-create-admitter.go ValidateVirtualMachineInstanceSpec, the
/// network validator's part.
fn admit_vmi(vmi: &Value) -> ApiResult<()> {
    let causes = super::netadmit::causes("spec", &vmi["spec"]);
    if causes.is_empty() {
        return Ok(());
    }
    Err(rejected(
        "virtualmachineinstances-create-validator.kubevirt.io",
        causes,
    ))
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

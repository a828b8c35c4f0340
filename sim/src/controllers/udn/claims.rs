//! ipam-extensions' controllers: an IPAMClaim for each network of a VMI that keeps its
//! addresses (persistent IPs), owned by the VM, and its finalizer lifted when the VM goes.

use serde_json::{json, Value};

use super::super::Ctx;
use crate::faults::Fault;
use crate::kinds;
use crate::obj;

/// kubevirt/ipam-extensions (main) pkg/claims/claims.go `KubevirtVMFinalizer`.
pub const FINALIZER: &str = "kubevirt.io/persistent-ipam";
/// `virtv1.VirtualMachineLabel`, the label `OwnedByVMLabel` selects claims by.
const VM_LABEL: &str = "kubevirt.io/vm";

/// kubevirt/ipam-extensions (main) pkg/claims/claims.go `ComposeKey`: `<vm>.<network>`,
/// lowercased, keeping the runs of RFC 1123 subdomain characters.
pub fn compose_key(vm: &str, network: &str) -> String {
    let lower = format!("{vm}.{network}").to_lowercase();
    let runs: Vec<&str> = lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .flat_map(|run| run.split('.'))
        .map(|label| label.trim_matches('-'))
        .filter(|label| !label.is_empty())
        .collect();
    let mut key = runs.join(".");
    key.truncate(253);
    key
}

/// The OVN-K network name (NAD config `name`) of a NAD config that keeps addresses.
fn persistent_network(config: &Value) -> Option<String> {
    (config["allowPersistentIPs"] == true)
        .then(|| config["name"].as_str().unwrap_or("").to_string())
}

/// `vmiNetworksClaimingIPAM`: VMI network name → OVN-K network name, for the pod network on
/// the namespace's primary network (`udn.FindPrimaryNetwork`: any NAD of role primary) and the
/// secondary networks whose NAD has persistent IPs.
fn networks_claiming(ctx: &Ctx, vmi: &Value) -> Vec<(String, String)> {
    let ns = obj::namespace(vmi);
    let nets = vmi["spec"]["networks"].as_array().into_iter().flatten();
    nets.filter_map(|net| {
        let config = if net["pod"].is_object() {
            super::nads::primary_nad(ctx, ns).and_then(|n| super::nads::nad_config(&n))?
        } else if let Some(name) = net["multus"]["networkName"]
            .as_str()
            .filter(|_| net["multus"]["default"] != true)
        {
            let (nad_ns, nad) = name.split_once('/').unwrap_or((ns, name));
            super::nads::nad_config(&*ctx.get(kinds::NADS, nad_ns, nad)?)?
        } else {
            return None;
        };
        Some((
            obj::str_at(net, "/name").to_string(),
            persistent_network(&config)?,
        ))
    })
    .collect()
}

/// kubevirt/ipam-extensions (main) pkg/vminetworkscontroller/vmi_controller.go `Reconcile`:
/// creates the VMI's claims (spec.network only, the VM's label, owned by the VM or else the VMI,
/// with the finalizer); lifts the finalizers once the VMI is gone and so is (or goes) its VM.
pub fn reconcile_vmi(ctx: &Ctx, ns: &str, name: &str) {
    let vmi = ctx.get(kinds::VMIS, ns, name);
    let vm = ctx.get(kinds::VMS, ns, name);
    // `shouldCleanFinalizers`.
    let clean = match (&vmi, &vm) {
        (None, Some(vm)) => obj::deleting(vm),
        (Some(_), Some(_)) => false,
        (None, None) => true,
        (Some(vmi), None) => {
            obj::deleting(vmi)
                && vmi["status"]["activePods"]
                    .as_object()
                    .is_none_or(|p| p.is_empty())
        }
    };
    if clean {
        cleanup(ctx, ns, name);
        return;
    }
    let Some(vmi) = vmi else {
        if ctx.faults.has(Fault::UdnClaimReleasedOnStop) {
            release_on_stop(ctx, ns, name);
        }
        return;
    };
    let owner = vm.as_deref().unwrap_or(&vmi);
    let owner_ref = json!({"apiVersion": "kubevirt.io/v1", "kind": if vm.is_some() { "VirtualMachine" } else { "VirtualMachineInstance" },
        "name": obj::name(owner), "uid": obj::uid(owner), "controller": true, "blockOwnerDeletion": true});
    for (network, ovn_network) in networks_claiming(ctx, &vmi) {
        let key = compose_key(name, &network);
        // An existing claim is left as it is: this VM's, or a leaked one upstream only logs.
        if ctx.get(kinds::IPAMCLAIMS, ns, &key).is_some() {
            continue;
        }
        let claim = json!({"apiVersion": "k8s.cni.cncf.io/v1alpha1", "kind": "IPAMClaim",
            "metadata": {"name": key, "namespace": ns, "labels": {VM_LABEL: name},
                         "ownerReferences": [owner_ref], "finalizers": [FINALIZER]},
            "spec": {"network": ovn_network}});
        let _ = ctx.create(kinds::IPAMCLAIMS, claim);
    }
}

/// kubevirt/ipam-extensions (main) pkg/vmnetworkscontroller/vm_controller.go `Reconcile`: a VM
/// gone, or being deleted without its VMI, lets its claims go.
pub fn reconcile_vm(ctx: &Ctx, ns: &str, name: &str) {
    let gone = match ctx.get(kinds::VMS, ns, name) {
        None => true,
        Some(vm) => obj::deleting(&vm) && ctx.get(kinds::VMIS, ns, name).is_none(),
    };
    if gone {
        cleanup(ctx, ns, name);
    }
}

/// The udn-claim-released-on-stop regression: the VM is stopped (its VMI gone, the VM kept)
/// and its claims lose their addresses, as if OVN-Kubernetes released a persistent-IP pod's
/// addresses with the pod (upstream keeps them: the release path of go-controller/pkg/ovn/
/// base_network_controller_pods.go, `BaseNetworkController.shouldReleaseDeletedPod`, with the
/// persistent-IPs allocator of go-controller/pkg/persistentips, leaves an address an IPAMClaim
/// holds to the claim).
fn release_on_stop(ctx: &Ctx, ns: &str, vm: &str) {
    for claim in ctx.list(kinds::IPAMCLAIMS, Some(ns)) {
        let holds = claim["status"]["ips"]
            .as_array()
            .is_some_and(|ips| !ips.is_empty());
        if obj::label(&claim, VM_LABEL) == Some(vm) && holds {
            ctx.write(kinds::IPAMCLAIMS, ns, obj::name(&claim), |c| {
                c["status"]["ips"] = json!([]);
            });
        }
    }
}

/// kubevirt/ipam-extensions (main) pkg/claims/claims.go `Cleanup`: the finalizer off every
/// claim labelled with the VM; the garbage collector deletes them with their owner.
fn cleanup(ctx: &Ctx, ns: &str, vm: &str) {
    for claim in ctx.list(kinds::IPAMCLAIMS, Some(ns)) {
        let finalized = obj::finalizers_of(&claim).iter().any(|f| f == FINALIZER);
        if obj::label(&claim, VM_LABEL) == Some(vm) && finalized {
            ctx.write(kinds::IPAMCLAIMS, ns, obj::name(&claim), |c| {
                obj::remove_finalizer(c, FINALIZER)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_key_is_the_vm_and_network_as_a_subdomain() {
        assert_eq!(compose_key("vm-a", "default"), "vm-a.default");
        assert_eq!(compose_key("VM_A", "Pod Net"), "vm.a.pod.net");
    }
}

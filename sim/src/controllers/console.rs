//! virt-api's serial console (kubevirt v1.9.0 pkg/virt-api/rest/console.go
//! ConsoleRequestHandler, validateVMIForConsole): fetch the VMI, refuse one without a serial
//! console, a failed one and one that is not running, then stream virt-handler's serial
//! socket (pkg/virt-handler/rest/console.go SerialHandler). The path goes through
//! virt-handler to the launcher's unix socket, never over the pod network, so a guest on an
//! isolated primary network answers here as any other.

use std::sync::Arc;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::guest;
use crate::guest::cloudinit;
use crate::kinds;
use crate::obj;
use crate::world::GuestStream;

/// The console of VMI `ns/name`.
pub fn open(ctx: &Arc<Ctx>, ns: &str, name: &str) -> ApiResult<Box<dyn GuestStream>> {
    // pkg/virt-api/rest/subresource.go FetchVirtualMachineInstance.
    let vmi = ctx
        .get(kinds::VMIS, ns, name)
        .ok_or_else(|| super::portforward::not_found("virtualmachineinstance", name))?;
    let devices = &vmi["spec"]["domain"]["devices"];
    if devices["autoattachSerialConsole"] == false {
        return Err(ApiError::bad_request("No serial consoles are present."));
    }
    let phase = obj::str_at(&vmi, "/status/phase");
    if phase == "Failed" {
        return Err(super::portforward::conflict(
            "virtualmachineinstance",
            name,
            "VMI is in failed status",
        ));
    }
    let running = ctx
        .guests
        .get(obj::uid(&vmi))
        .filter(|_| phase == "Running");
    let Some(guest) = running else {
        return Err(ApiError::bad_request("VMI is not running"));
    };
    if let Some(machine) = guest::lock(&guest).machine.clone() {
        return Ok(machine.attach_console());
    }
    let default_user = guest::lock(&guest).distro.default_user;
    // cloud-init set the passwords at first boot from the (immutable) VMI spec.
    let passwords = cloudinit::read(&ctx.store, &vmi, default_user).passwords;
    Ok(guest::console::open(guest, ctx.net.clone(), passwords))
}

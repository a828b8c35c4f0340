//! virt-api's port-forward into a guest, in upstream's order and wording (kubevirt v1.9.0
//! pkg/virt-api/rest/portforward.go PortForwardRequestHandler, streamer.go
//! DirectDialer.DialUnderlying): fetch the VMI, refuse a paused one, dial the first status
//! interface's IP. There is no phase check: whatever the VMI's phase, the dial decides.

use std::sync::Arc;

use serde_json::{json, Value};

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::faults::Fault;
use crate::guest;
use crate::kinds;
use crate::obj;
use crate::world::{GuestStream, PortForward};

/// The port the simulated guests listen on (their sshd).
const SSHD: u16 = 22;

/// `v1.Resource(resource)`: virt-api names the singular resource in its errors.
fn details(resource: &str, name: &str) -> Value {
    json!({"name": name, "group": "kubevirt.io", "kind": resource})
}

/// k8s.io/apimachinery errors.NewNotFound(v1.Resource(resource), name).
pub(super) fn not_found(resource: &str, name: &str) -> ApiError {
    let mut e = ApiError::new(
        404,
        "NotFound",
        format!("{resource}.kubevirt.io \"{name}\" not found"),
    );
    e.details = Some(details(resource, name));
    e
}

/// errors.NewConflict(v1.Resource(resource), name, why).
pub(super) fn conflict(resource: &str, name: &str, why: &str) -> ApiError {
    let mut e = ApiError::new(
        409,
        "Conflict",
        format!("Operation cannot be fulfilled on {resource}.kubevirt.io \"{name}\": {why}"),
    );
    e.details = Some(details(resource, name));
    e
}

/// errors.NewInternalError(err).
fn internal(err: &str) -> ApiError {
    let mut e = ApiError::internal(format!("Internal error occurred: {err}"));
    e.details = Some(json!({"causes": [{"message": err}]}));
    e
}

/// kubevirt v1.9.0 pkg/virt-api/rest/subresource.go FetchVirtualMachineInstance /
/// FetchVirtualMachineInstanceForVM.
fn fetch(ctx: &Ctx, f: &PortForward<'_>) -> ApiResult<Arc<Value>> {
    let (ns, name) = (f.namespace, f.name);
    let vm = match f.via_vm {
        true => Some(
            ctx.get(kinds::VMS, ns, name)
                .ok_or_else(|| not_found("virtualmachine", name))?,
        ),
        false => None,
    };
    if vm
        .as_ref()
        .is_some_and(|vm| vm["status"]["created"] != true)
    {
        return Err(conflict("virtualmachine", name, "VMI is not started"));
    }
    let vmi = ctx
        .get(kinds::VMIS, ns, name)
        .ok_or_else(|| not_found("virtualmachineinstance", name))?;
    let owned = |vm: &Value| {
        vmi["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == vm["metadata"]["uid"]))
    };
    if vm.as_ref().is_some_and(|vm| !owned(vm)) {
        return Err(internal(&format!(
            "unable to retrieve vmi [{name}] for vm: <nil>"
        )));
    }
    Ok(vmi)
}

/// kubevirt v1.9.0 pkg/virt-api/rest/portforward.go validateVMIForPortForward, then
/// dialers.go netDial.DialUnderlying and getTargetInterfaceIP.
pub fn dial(ctx: &Arc<Ctx>, f: &PortForward<'_>) -> ApiResult<Box<dyn GuestStream>> {
    let vmi = fetch(ctx, f)?;
    if obj::condition(&vmi, "Paused").is_some() {
        return Err(conflict("virtualmachineinstance", f.name, "VMI is paused"));
    }
    let Some(first) = vmi["status"]["interfaces"]
        .as_array()
        .and_then(|i| i.first())
    else {
        return Err(ApiError::bad_request("no network interfaces are present"));
    };
    if f.port.is_empty() {
        return Err(ApiError::bad_request("port must not be empty"));
    }
    let ip = first["ipAddress"].as_str().unwrap_or("");
    let addr = match ip.contains(':') {
        true => format!("[{ip}]:{}", f.port),
        false => format!("{ip}:{}", f.port),
    };
    let failed = |why: String| internal(&format!("dialing VM: {why}"));
    let port = port_of(f.protocol, f.port).map_err(failed)?;
    match f.protocol {
        // A UDP "connection" is set up without a word to the peer: it always opens.
        "udp" => Ok(Box::new(silent_peer())),
        "tcp" if isolated(ctx, &vmi, ip) => Err(failed(format!(
            "dial tcp {addr}: connect: connection timed out"
        ))),
        "tcp" => connect(ctx, &vmi, ip, port)
            .ok_or_else(|| failed(format!("dial tcp {addr}: connect: connection refused"))),
        other => Err(failed(format!("dial {other}: unknown network {other}"))),
    }
}

/// Go's net.Dial port resolution: a number up to 65535, else the lookup's error.
fn port_of(protocol: &str, port: &str) -> Result<u16, String> {
    let dial = |why: String| format!("dial {protocol}: {why}");
    if !port.chars().all(|c| c.is_ascii_digit()) {
        return Err(dial(format!("lookup {protocol}/{port}: unknown port")));
    }
    port.parse()
        .map_err(|_| dial(format!("address {port}: invalid port")))
}

/// Whether `ip` is the guest's address on a primary user-defined network. virt-api dials
/// from its own pod on the cluster's default network, and a UDN is isolated from it: the
/// SYNs go unanswered and the kernel gives up (kubevirt/kubevirt issue 18399: "dialing VM:
/// dial tcp …:22: connect: connection timed out"). The real dial takes the kernel's SYN
/// retries (about 127 s with tcp_syn_retries=6) to fail; here it fails at once.
fn isolated(ctx: &Arc<Ctx>, vmi: &Value, ip: &str) -> bool {
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let Some(guest) = ctx.guests.get(obj::uid(vmi)) else {
        return false;
    };
    let g = guest::lock(&guest);
    g.nics
        .iter()
        .any(|n| n.segment.starts_with("udn:") && n.addrs.iter().any(|(a, _)| *a == ip))
}

/// A TCP connection to the guest's sshd, or `None` where the connection is refused: no
/// address (virt-api dials itself), no running guest, a guest that is down, sshd not started
/// yet, another port.
/// (Dialling a pod that is gone is answered at once here; a real dial waits for the kernel's
/// SYN retries before it fails.)
fn connect(ctx: &Arc<Ctx>, vmi: &Value, ip: &str, port: u16) -> Option<Box<dyn GuestStream>> {
    let running = obj::str_at(vmi, "/status/phase") == "Running";
    let guest = ctx
        .guests
        .get(obj::uid(vmi))
        .filter(|_| running && !ip.is_empty())?;
    // Nothing listens on the port until sshd has started, a while after the guest agent
    // connected (controllers/boot.rs): the guest's kernel answers RST.
    let first = {
        let mut g = guest::lock(&guest);
        if let Some(machine) = &g.machine {
            return (port == SSHD && !g.paused()).then(|| real_sshd(machine.ssh));
        }
        if port != SSHD || !g.up || g.paused() || !g.sshd_listening {
            return None;
        }
        g.ssh_connections += 1;
        g.ssh_connections == 1
    };
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    if first && ctx.faults.has(Fault::SshResetFirst) {
        // The connection opens and is reset at once: the client sees it end mid-handshake.
        drop(ours);
        return Some(Box::new(theirs));
    }
    guest::ssh::serve(ctx.sshd.clone(), Box::new(ours), guest, ctx.net.clone());
    Some(Box::new(theirs))
}

/// A connection to a real guest's sshd, through qemu's forward of the pod network's port 22.
/// Whether anything listens there is the guest's own answer: a refused or reset connection
/// ends the stream, as a reset from the guest's kernel does.
fn real_sshd(at: std::net::SocketAddr) -> Box<dyn GuestStream> {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let mut ours = ours;
        if let Ok(mut guest) = tokio::net::TcpStream::connect(at).await {
            let _ = tokio::io::copy_bidirectional(&mut ours, &mut guest).await;
        }
    });
    Box::new(theirs)
}

/// The client end of a datagram flow nobody answers: writes vanish, reads wait.
fn silent_peer() -> impl GuestStream {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let mut ours = ours;
        let _ = tokio::io::copy(&mut ours, &mut tokio::io::sink()).await;
    });
    theirs
}

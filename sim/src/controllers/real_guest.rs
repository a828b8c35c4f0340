//! The real-guest lane's part of a VMI's boot: the domain is a qemu process
//! (crate::qemu), and the guest agent's connection comes from the guest, not from a timer.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::Ctx;
use crate::guest::{self, GuestRef};
use crate::qemu::{Machine, MachineSpec};

/// How long a real guest may take from qemu's start to its agent's first word before the
/// boot is given up (real seconds; a TCG boot takes about ten).
const AGENT_BUDGET: Duration = Duration::from_secs(300);

/// Starts the VMI's domain as a qemu process when the lane runs real Linux guests; `None`
/// when it does not (the emulated guest stands alone). A domain that cannot start is what
/// virt-handler reports as a Warning `SyncFailed` and the VMI fails (kubevirt v1.9.0
/// pkg/virt-handler/vm.go `processVmUpdate` error path, launcher exit).
pub async fn start_domain(
    ctx: &Arc<Ctx>,
    vmi: &Value,
    macs: &[String],
    linux: bool,
    pod_behind_nat: bool,
) -> Result<Option<Arc<Machine>>, String> {
    let Some(lane) = ctx.spec.guests.lane().filter(|_| linux) else {
        return Ok(None);
    };
    let cloud_init = guest::cloudinit::documents(&ctx.store, vmi);
    let memory = super::launcher::guest_memory(&vmi["spec"]);
    let ports = super::pciports::free_at_boot(vmi);
    let mut spec = MachineSpec::of_vmi(vmi, memory, macs, ports, cloud_init);
    if !pod_behind_nat {
        // Bridged onto a primary UDN, the pod NIC's frames go to the network's switch.
        spec.nics.iter_mut().for_each(|n| n.pod = false);
    }
    Machine::start(lane, &spec).await.map(Some).map_err(|why| {
        let message = format!("failed to start the domain: {why}");
        handler_sync_failed(ctx, vmi, &message);
        message
    })
}

/// Waits for the real guest's agent, then writes its boot id into the guest model so both
/// tell the same. An error says what the guest's console showed.
pub async fn await_agent(machine: &Machine, guest: &GuestRef) -> Result<(), String> {
    let boot_id = tokio::time::timeout(AGENT_BUDGET, machine.agent_up())
        .await
        .map_err(|_| {
            format!(
                "the guest's agent did not connect within {AGENT_BUDGET:?}; console: {}",
                machine.console_tail()
            )
        })??;
    guest::lock(guest).boot_id = boot_id;
    Ok(())
}

/// The target's vCPUs after a CPU hotplug migration, plugged into the real guest; a refusal
/// is virt-handler's Warning `SyncFailed` on the VMI.
pub async fn plug_cpus(ctx: Arc<Ctx>, vmi: Value, machine: Arc<Machine>, vcpus: u32) {
    if let Err(why) = machine.plug_cpus(u64::from(vcpus)).await {
        let message = format!("failed to hotplug vCPUs: {why}");
        handler_sync_failed(&ctx, &vmi, &message);
    }
}

/// The target's memory after a memory hotplug migration, plugged into the real guest
/// (virtio-mem); whether it was. A refusal is virt-handler's Warning `SyncFailed` on the VMI.
pub async fn plug_memory(ctx: &Ctx, vmi: &Value, machine: &Machine, bytes: u64) -> bool {
    let plugged = machine.plug_memory(bytes).await;
    if let Err(why) = &plugged {
        handler_sync_failed(
            ctx,
            vmi,
            &format!("failed to update the guest memory: {why}"),
        );
    }
    plugged.is_ok()
}

/// A NIC hotplug on the real guest: `device_add` into a free root port of the domain, or
/// `device_del` and the guest letting the NIC go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NicChange {
    Plug,
    Unplug,
}

/// Applies `change` to the NICs with `macs` of the VMI's real guest; a refusal is
/// virt-handler's Warning `SyncFailed` on the VMI.
pub async fn change_nics(ctx: &Ctx, vmi: &Value, macs: &[String], change: NicChange) {
    let Some(machine) = machine_of(ctx, vmi) else {
        return;
    };
    for mac in macs {
        let (done, verb) = match change {
            NicChange::Plug => (machine.plug_nic(mac).await, "hotplug"),
            NicChange::Unplug => (machine.unplug_nic(mac).await, "hot-unplug"),
        };
        if let Err(why) = done {
            let message = format!("failed to {verb} the interface with MAC {mac}: {why}");
            handler_sync_failed(ctx, vmi, &message);
        }
    }
}

fn machine_of(ctx: &Ctx, vmi: &Value) -> Option<Arc<Machine>> {
    let g = ctx.guests.get(crate::obj::uid(vmi))?;
    let machine = guest::lock(&g).machine.clone();
    machine
}

/// Which segments the real NIC with a MAC is on: its model's, as NAD swaps, migrations and
/// the regressions of the catalogue (a NIC left on its old VLAN) put it; none while it is down,
/// its frames are misdirected, or its guest is paused.
pub fn segments(guests: Arc<guest::Guests>) -> Arc<crate::qemu::switch::Segments> {
    Arc::new(move |mac: &str| {
        let Some((nic, paused)) = nic_with_mac(&guests, mac) else {
            return Vec::new();
        };
        if !nic.up || nic.misdirected || paused {
            return Vec::new();
        }
        std::iter::once(nic.segment)
            .chain(nic.stale_segment)
            .collect()
    })
}

/// The model's NIC with a MAC, and whether its guest is paused.
fn nic_with_mac(guests: &guest::Guests, mac: &str) -> Option<(guest::Nic, bool)> {
    guests.all().into_iter().find_map(|g| {
        let g = guest::lock(&g);
        let nic = g.nics.iter().find(|n| n.mac.eq_ignore_ascii_case(mac))?;
        Some((nic.clone(), g.paused()))
    })
}

/// virt-handler's Warning `SyncFailed` on the VMI, for a domain operation libvirt refused.
fn handler_sync_failed(ctx: &Ctx, vmi: &Value, message: &str) {
    super::events::warning(ctx, vmi, "SyncFailed", message, super::events::VIRT_HANDLER);
}

/// What answers on the real guests' fabric for OVN and the world outside: DHCP leases, the
/// gateway, and the external host, whose view (what reaches it, what it sees) is the model's
/// (world/external.rs).
pub fn services(guests: Arc<guest::Guests>) -> crate::qemu::gateway::Services {
    let known = guests.clone();
    let outside = move |mac: &str, to: std::net::IpAddr, port: u16| {
        let (nic, _) = nic_with_mac(&known, mac)?;
        crate::world::external::answers(&nic, to, Some(port))??;
        Some(crate::world::external::greeting(&nic, to, port))
    };
    crate::qemu::gateway::Services {
        leases: leases(guests),
        outside: Arc::new(outside),
    }
}

/// The DHCP lease of the real NIC with a MAC: the address OVN-Kubernetes allocated when the
/// NIC is bridged onto a primary layer2 UDN (its port security holds it) and the guest takes
/// it by DHCP, with OVN-Kubernetes' ARP proxy as router (qemu/dhcp.rs).
fn leases(guests: Arc<guest::Guests>) -> Arc<crate::qemu::dhcp::Leases> {
    Arc::new(move |mac: &str| {
        let (nic, _) = nic_with_mac(&guests, mac)?;
        let allocated = nic.port_security.as_ref()?.iter().find_map(|a| match a {
            std::net::IpAddr::V4(v4) => Some(*v4),
            std::net::IpAddr::V6(_) => None,
        })?;
        let (_, prefix) = nic.addrs.iter().find(|(a, _)| *a == allocated)?;
        Some(crate::qemu::dhcp::Lease {
            address: allocated,
            prefix: *prefix,
            router: crate::qemu::dhcp::ARP_PROXY,
        })
    })
}

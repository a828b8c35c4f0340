//! The L2 fabric of the real guests: a userspace switch. Each secondary NIC of a machine is a
//! qemu `dgram` netdev whose frames come to a unix datagram socket of the switch, one per port
//! (no root, no kernel bridge). A frame goes to every other port that shares a segment with
//! its sender: which segment a NIC is on (a bridge with a VLAN, a localnet with a VLAN) is the
//! simulated world's answer (`Segments`), so NAD swaps and migrations move real NICs as they
//! move the model's. Frames are flooded, never learned: a guest drops what is not for it.
//! On a primary UDN, the switch also answers for OVN: DHCP, the gateway and the host beyond it
//! (gateway.rs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::net::UnixDatagram;

/// The segments a NIC (by MAC) is on now; none when it is down or cut off.
pub type Segments = dyn Fn(&str) -> Vec<String> + Send + Sync;

/// The largest frame a port forwards (an Ethernet frame with a VLAN tag).
const MAX_FRAME: usize = 65536;

#[derive(Default)]
pub struct Switch {
    ports: Mutex<HashMap<u64, Port>>,
    next: std::sync::atomic::AtomicU64,
    segments: OnceLock<Arc<Segments>>,
    services: OnceLock<super::gateway::Services>,
}

struct Port {
    /// Dropped with the port: ends its forwarding task.
    _plugged: tokio::sync::oneshot::Sender<()>,
    mac: String,
    socket: Arc<UnixDatagram>,
    /// Where qemu's end of the NIC listens.
    nic: PathBuf,
}

/// A port held by a machine; dropping it unplugs the NIC from the switch.
pub struct PortGuard {
    switch: Arc<Switch>,
    id: u64,
}

impl Drop for PortGuard {
    fn drop(&mut self) {
        self.switch.lock().remove(&self.id);
    }
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("ports", &self.lock().len())
            .finish()
    }
}

impl Switch {
    /// Who answers which segments a NIC is on; set once, when the world starts.
    pub fn set_segments(&self, segments: Arc<Segments>) {
        let _ = self.segments.set(segments);
    }

    /// What answers in the fabric besides the guests (gateway.rs); set once, when the
    /// world starts.
    pub fn set_services(&self, services: super::gateway::Services) {
        let _ = self.services.set(services);
    }

    /// The services' answers to a frame from port `from`, sent back to it; whether the frame
    /// was theirs alone.
    fn serve(&self, from: u64, frame: &[u8]) -> bool {
        let Some(services) = self.services.get() else {
            return false;
        };
        let Some((mac, socket, nic)) = self
            .lock()
            .get(&from)
            .map(|p| (p.mac.clone(), p.socket.clone(), p.nic.clone()))
        else {
            return false;
        };
        let served = services.serve(&mac, frame);
        for answer in &served.answers {
            let _ = socket.try_send_to(answer, &nic);
        }
        served.consumed
    }

    /// A port for the NIC with `mac`: the switch listens on `switch_end`, and qemu's netdev
    /// listens on `nic_end` (`-netdev dgram,local.path=nic_end,remote.path=switch_end`).
    pub fn plug(
        self: &Arc<Self>,
        mac: &str,
        switch_end: &Path,
        nic_end: &Path,
    ) -> Result<PortGuard, String> {
        let socket = UnixDatagram::bind(switch_end)
            .map_err(|e| format!("switch port {}: {e}", switch_end.display()))?;
        let socket = Arc::new(socket);
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (plugged, unplugged) = tokio::sync::oneshot::channel();
        let port = Port {
            _plugged: plugged,
            mac: mac.to_lowercase(),
            socket: socket.clone(),
            nic: nic_end.to_path_buf(),
        };
        self.lock().insert(id, port);
        tokio::spawn(forward(Arc::downgrade(self), id, socket, unplugged));
        Ok(PortGuard {
            switch: self.clone(),
            id,
        })
    }

    /// The other ports that share a segment with port `from`, with their qemu ends.
    fn recipients(&self, from: u64) -> Vec<(Arc<UnixDatagram>, PathBuf)> {
        let Some(segments) = self.segments.get() else {
            return Vec::new();
        };
        let ports: Vec<(u64, String, Arc<UnixDatagram>, PathBuf)> = self
            .lock()
            .iter()
            .map(|(id, p)| (*id, p.mac.clone(), p.socket.clone(), p.nic.clone()))
            .collect();
        let Some((_, sender, _, _)) = ports.iter().find(|p| p.0 == from) else {
            return Vec::new();
        };
        let on = segments(sender);
        ports
            .into_iter()
            .filter(|(id, mac, _, _)| *id != from && segments(mac).iter().any(|s| on.contains(s)))
            .map(|(_, _, socket, nic)| (socket, nic))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Port>> {
        self.ports.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Carries the frames of port `id` until it is unplugged.
async fn forward(
    switch: std::sync::Weak<Switch>,
    id: u64,
    socket: Arc<UnixDatagram>,
    mut unplugged: tokio::sync::oneshot::Receiver<()>,
) {
    let mut frame = vec![0u8; MAX_FRAME];
    loop {
        let n = tokio::select! {
            received = socket.recv(&mut frame) => match received {
                Ok(n) => n,
                Err(_) => return,
            },
            _ = &mut unplugged => return,
        };
        let Some(switch) = switch.upgrade() else {
            return;
        };
        if switch.serve(id, &frame[..n]) {
            continue;
        }
        for (out, nic) in switch.recipients(id) {
            // A NIC whose qemu is gone or busy loses the frame, as a full queue does.
            let _ = out.try_send_to(&frame[..n], &nic);
        }
    }
}

//! One real guest: a qemu process started as virt-launcher's libvirt starts the domain
//! (kubevirt v1.9.0 pkg/virt-launcher/virtwrap/converter: CPU topology, memory with hotplug
//! slots, one virtio-net NIC per interface with its MAC, the cloud-init data, the guest agent's
//! virtio-serial channel org.qemu.guest_agent.0, the serial console).
//!
//! qemu connects to sockets the simulator listens on (QMP, agent, console), so nothing waits
//! for a socket file to appear: each accept either gets qemu's connection or sees the process
//! end, and then says what qemu printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedReadHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, Command};
use tokio::sync::{broadcast, watch, Mutex, OwnedSemaphorePermit};

use std::collections::HashMap;

use super::lane::{self, Lane};
use super::qmp::Qmp;
use super::spec::{nic_end, switch_end, MachineSpec};
use super::switch::{PortGuard, Switch};

/// How long qemu may take to connect its sockets after it starts (it does so before the
/// guest runs, in well under a second; a loaded machine gets a wide margin).
const CONNECT_BUDGET: Duration = Duration::from_secs(30);

/// The agent's first line says the guest is up, with its boot id (guest-image/rootfs/etc/vstp/agent).
#[derive(serde::Deserialize)]
struct AgentHello {
    boot_id: String,
}

pub struct Machine {
    /// The process; killed when the machine is dropped (also by the kernel when the
    /// simulator dies: PR_SET_PDEATHSIG).
    child: std::sync::Mutex<Child>,
    pub qmp: Mutex<Qmp>,
    /// What it was started with, and the vCPUs and NICs plugged since (a migration target
    /// starts the same).
    pub(super) spec: std::sync::Mutex<MachineSpec>,
    /// Where the guest's sshd is forwarded to on 127.0.0.1 (the pod network's NIC).
    pub ssh: SocketAddr,
    /// The guest's boot id once its agent said it is up; closed if the channel ended first.
    agent: watch::Receiver<Option<String>>,
    /// The serial console: what the guest prints, to whoever attached, and where keys go.
    console_out: broadcast::Sender<Vec<u8>>,
    console_in: Arc<Mutex<tokio::net::unix::OwnedWriteHalf>>,
    pub(super) dir: PathBuf,
    pub(super) switch: Arc<Switch>,
    /// Its secondary NICs' ports on the lane's switch by their sockets' name, unplugged with
    /// it.
    pub(super) ports: std::sync::Mutex<HashMap<String, PortGuard>>,
    _slot: OwnedSemaphorePermit,
}

impl Machine {
    /// Starts qemu for `spec`, once one of the lane's slots is free, to boot the guest.
    pub async fn start(lane: &Lane, spec: &MachineSpec) -> Result<Arc<Machine>, String> {
        Machine::launch(lane, spec, None).await
    }

    /// Starts qemu for `spec` as a migration target (`-incoming defer`): it runs the guest
    /// booted as `boot_id` once memory arrives (`migrate-incoming`).
    pub async fn start_incoming(
        lane: &Lane,
        spec: &MachineSpec,
        boot_id: &str,
    ) -> Result<Arc<Machine>, String> {
        Machine::launch(lane, spec, Some(boot_id)).await
    }

    async fn launch(
        lane: &Lane,
        spec: &MachineSpec,
        incoming: Option<&str>,
    ) -> Result<Arc<Machine>, String> {
        let slot = lane
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| "the real-guest lane is shutting down".to_string())?;
        let id = match incoming {
            None => spec.id.clone(),
            Some(_) => format!("{}-in{}", spec.id, lane.next_serial()),
        };
        let dir = lane.runtime_dir(&id)?;
        spec.write_cloud_init(&dir)?;
        let listen = |name: &str| {
            UnixListener::bind(dir.join(name)).map_err(|e| format!("{}/{name}: {e}", dir.display()))
        };
        let (qmp, agent, console) = (listen("qmp")?, listen("agent")?, listen("console")?);
        let ssh = free_port()?;
        let mut ports = HashMap::new();
        let secondary = spec.nics.iter().enumerate().filter(|(_, n)| !n.pod);
        let at_boot = secondary.map(|(i, nic)| (i.to_string(), nic.mac.clone()));
        let plugged = spec.plugged_nics.iter().map(|n| (n.id(), n.mac.clone()));
        for (end, mac) in at_boot.chain(plugged) {
            let port = switch_port(&lane.switch, &dir, &end, &mac)?;
            ports.insert(end, port);
        }
        let mut args = spec.qemu_args(&lane.image, &dir, ssh);
        if incoming.is_some() {
            args.extend(["-incoming".to_string(), "defer".to_string()]);
        }
        let mut child = spawn(&lane.qemu, &args, &dir)?;
        let started = async {
            let qmp = accept(&qmp, "QMP").await?;
            let agent = accept(&agent, "agent").await?;
            let console = accept(&console, "console").await?;
            Ok::<_, String>((qmp, agent, console))
        };
        let (qmp, agent, console) = tokio::select! {
            sockets = tokio::time::timeout(CONNECT_BUDGET, started) => sockets
                .map_err(|_| format!("qemu did not connect its sockets within {CONNECT_BUDGET:?}"))??,
            status = child.wait() => return Err(ended(&dir, status)),
        };
        let (console_read, console_write) = console.into_split();
        let (console_out, _) = broadcast::channel(256);
        tokio::spawn(drain(
            console_read,
            dir.join("console.log"),
            console_out.clone(),
        ));
        let qmp = Qmp::connect_stream(qmp).await?;
        Ok(Arc::new(Machine {
            child: std::sync::Mutex::new(child),
            qmp: Mutex::new(qmp),
            spec: std::sync::Mutex::new(spec.clone()),
            ssh,
            agent: listen_to_agent(agent, incoming.map(str::to_string)),
            console_out,
            console_in: Arc::new(Mutex::new(console_write)),
            dir,
            switch: lane.switch.clone(),
            ports: std::sync::Mutex::new(ports),
            _slot: slot,
        }))
    }

    /// The guest's boot id, once its agent connected; an error if the channel closed first
    /// (the guest or qemu died).
    pub async fn agent_up(&self) -> Result<String, String> {
        let mut agent = self.agent.clone();
        let seen = agent.wait_for(Option::is_some).await.map_err(|_| {
            format!(
                "the guest's agent channel closed before it said it was up; console: {}",
                self.console_tail()
            )
        })?;
        Ok(seen.clone().unwrap_or_default())
    }

    /// Everything the guest printed on its serial console so far (its serial log).
    pub fn console_log(&self) -> String {
        // Bytes, not UTF-8: a guest may print anything, and a write may split a character.
        let bytes = std::fs::read(self.dir.join("console.log")).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Resolves when the guest next prints on its serial console (what it printed is then in
    /// [`Machine::console_log`]). Never, once qemu is gone.
    pub fn printed(&self) -> futures::future::BoxFuture<'static, ()> {
        let mut printed = self.console_out.subscribe();
        Box::pin(async move {
            if let Err(broadcast::error::RecvError::Closed) = printed.recv().await {
                std::future::pending::<()>().await;
            }
        })
    }

    /// The last lines the guest printed on its serial console, for error messages.
    pub fn console_tail(&self) -> String {
        let text = self.console_log();
        let lines: Vec<&str> = text.lines().rev().take(8).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// A stream to the serial console, as the VMI's console subresource gives it: what the
    /// guest prints from now on, and keys typed into it.
    pub fn attach_console(&self) -> Box<dyn crate::world::GuestStream> {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (mut from_user, mut to_user) = tokio::io::split(ours);
        let mut printed = self.console_out.subscribe();
        tokio::spawn(async move {
            loop {
                let bytes = match printed.recv().await {
                    Ok(bytes) => bytes,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if to_user.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        let keys = self.console_in.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            while let Ok(n) = from_user.read(&mut buf).await {
                if n == 0 || keys.lock().await.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        Box::new(theirs)
    }

    /// The machine as it is now: what a migration target must be started with.
    pub fn spec(&self) -> MachineSpec {
        self.spec.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The qemu process id, for the tests that check none is left behind.
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).id()
    }
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("pid", &self.pid())
            .field("ssh", &self.ssh)
            .finish_non_exhaustive()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The switch's port for the NIC whose sockets are named by `end` in `dir`.
pub(super) fn switch_port(
    switch: &Arc<Switch>,
    dir: &Path,
    end: &str,
    mac: &str,
) -> Result<PortGuard, String> {
    let (switch_end, nic_end) = (dir.join(switch_end(end)), dir.join(nic_end(end)));
    switch.plug(mac, &switch_end, &nic_end)
}

fn spawn(qemu: &Path, args: &[String], dir: &Path) -> Result<Child, String> {
    let log = std::fs::File::create(dir.join("qemu.log"))
        .map_err(|e| format!("{}/qemu.log: {e}", dir.display()))?;
    let mut command = Command::new(qemu);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
    unsafe {
        command.pre_exec(|| {
            // The guest dies with the simulator, even if it is killed outright.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => lane::missing_qemu(qemu),
        _ => format!("cannot start {}: {e}", qemu.display()),
    })
}

async fn accept(listener: &UnixListener, what: &str) -> Result<UnixStream, String> {
    let (stream, _) = listener
        .accept()
        .await
        .map_err(|e| format!("qemu's {what} connection: {e}"))?;
    Ok(stream)
}

fn ended(dir: &Path, status: std::io::Result<std::process::ExitStatus>) -> String {
    let log = std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
    format!("qemu ended at start ({status}): {}", log.trim())
}

/// A port on 127.0.0.1 nobody listens on now (qemu's host forward of the guest's sshd, a
/// migration's stream).
pub fn free_port() -> Result<SocketAddr, String> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
    probe.local_addr().map_err(|e| e.to_string())
}

/// Keeps the console read (a serial port nobody reads stalls the guest's writes), its text in
/// `log`, and passes it to whoever attached.
async fn drain(mut console: OwnedReadHalf, log: PathBuf, out: broadcast::Sender<Vec<u8>>) {
    let mut file = tokio::fs::File::create(&log).await.ok();
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = console.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if let Some(f) = file.as_mut() {
            // tokio's File hands writes to a thread: flushed, the file has the bytes before
            // anyone hears they were printed.
            let _ = f.write_all(&buf[..n]).await;
            let _ = f.flush().await;
        }
        let _ = out.send(buf[..n].to_vec());
    }
}

/// The agent channel's news: the boot id once the guest said it is up (a migrated-in guest's
/// agent said so on the source already: `known`).
fn listen_to_agent(agent: UnixStream, known: Option<String>) -> watch::Receiver<Option<String>> {
    let (tx, rx) = watch::channel(known.clone());
    tokio::spawn(async move {
        let mut lines = BufReader::new(agent).lines();
        let hello = match known {
            Some(_) => None,
            None => lines.next_line().await.ok().flatten(),
        };
        if let Some(hello) = hello.and_then(|l| serde_json::from_str::<AgentHello>(&l).ok()) {
            tx.send_replace(Some(hello.boot_id));
        }
        // The channel stays open while the agent holds the port; its end drops the sender.
        while let Ok(Some(_)) = lines.next_line().await {}
        hold(&tx).await;
    });
    rx
}

/// Keeps `tx` alive (the boot id stays readable) until every receiver is gone.
async fn hold(tx: &watch::Sender<Option<String>>) {
    if tx.borrow().is_some() {
        tx.closed().await;
    }
}

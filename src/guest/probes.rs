//! What the harness asks a guest, in either dialect: boot identity, processes, interfaces,
//! reachability, TCP, CPU and memory. Each probe sends the dialect's real command and reads
//! the answer with the dialect's strict parser.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;

use super::access::Guest;
use super::boot::Boot;
use super::{linux, windows, Interface};
use crate::guest::os::GuestOs;

/// Echo requests per reachability probe: enough to ride over one lost packet, few enough to
/// keep a negative probe short (each unanswered request waits a second).
const ECHOES: u32 = 3;

/// The negative probe samples over a window, one echo a second, rather than at one instant:
/// isolation a product breaks late must show in it. After a live NAD swap's migration
/// completes, the target's virt-handler still plugs NICs new in the spec (about 5 s on bare
/// metal, the `nic_attach` the simulator models), the source virt-launcher pod is being torn
/// down and OVN flows re-installed; 10 s covers those with room, and on the simulator (time
/// scaled by 60) costs a sixth of a second per probe.
const ISOLATION_ECHOES: u32 = 10;
const ISOLATION_INTERVAL_SECS: u32 = 1;
/// How long the echoes of one negative probe span: the last one leaves after
/// `(ISOLATION_ECHOES - 1) × ISOLATION_INTERVAL_SECS` and is waited for one more second.
const ISOLATION_WINDOW_SECS: u32 = ISOLATION_ECHOES * ISOLATION_INTERVAL_SECS;

/// What one windowed probe sent and got back.
struct Sampled {
    answered: u32,
    sent: u32,
}

/// Probes of a new listener's port before it must accept (about 5 s of pauses in all).
const LISTEN_ATTEMPTS: u32 = 8;

/// Between two positive probes that wait for the guest (not scaled: the harness's own pace).
const RETRY_PAUSE: Duration = Duration::from_millis(500);

impl Guest {
    /// The identity of the current boot: the kernel's boot id on Linux; on Windows the last
    /// boot time with the guest's clock, read in that order (see [`Boot`]).
    pub async fn boot(&self) -> anyhow::Result<Boot> {
        Ok(match self.os {
            GuestOs::Rhel => Boot::Id(linux::boot_id(&self.ok(linux::BOOT_ID).await?)?),
            GuestOs::Windows => {
                let asked = std::time::Instant::now();
                let booted = windows::last_boot(&self.ok(windows::LAST_BOOT).await?)?;
                let answered = std::time::Instant::now();
                Boot::Time {
                    booted,
                    seen_up: windows::clock(&self.ok(windows::CLOCK).await?)?,
                    asked,
                    answered,
                }
            }
        })
    }

    /// Seconds since boot, by the guest's own clocks: `/proc/uptime` on Linux, the guest's
    /// clock less its boot time on Windows (its tick count, whatever steps the clock took).
    pub async fn uptime(&self) -> anyhow::Result<f64> {
        Ok(match self.os {
            GuestOs::Rhel => linux::uptime(&self.ok(linux::UPTIME).await?)?,
            GuestOs::Windows => self.boot().await?.uptime().unwrap_or_default(),
        })
    }

    /// Starts a long-lived idle process whose PID must survive whatever the scenario does,
    /// and sees it running from a second session.
    pub async fn start_sentinel(&self) -> anyhow::Result<u32> {
        let pid = match self.os {
            GuestOs::Rhel => {
                linux::pid(&self.ok(&linux::start_background("sleep infinity")).await?)?
            }
            GuestOs::Windows => self.create(&windows::create_process("notepad.exe")).await?,
        };
        self.running_after_start(pid, "the sentinel").await?;
        Ok(pid)
    }

    /// Starts a workload that keeps re-writing `megabytes` of memory, so that a live
    /// migration cannot converge by pre-copy alone, and sees it running from a second
    /// session. Returns its PID. On RHEL it needs nothing beyond the image (python3, which
    /// cloud-init needs).
    pub async fn start_memory_dirtier(&self, megabytes: u32) -> anyhow::Result<u32> {
        self.start_memory_dirtier_with(linux::Dirtier::default(), megabytes)
            .await
    }

    /// [`Guest::start_memory_dirtier`] with the RHEL `dirtier` given; a dirtier whose program
    /// the image lacks is an environment problem naming it.
    pub async fn start_memory_dirtier_with(
        &self,
        dirtier: linux::Dirtier,
        megabytes: u32,
    ) -> anyhow::Result<u32> {
        match self.os {
            GuestOs::Rhel => {
                let command = dirtier.command(megabytes);
                self.start_program(dirtier.program(), &command, "the memory dirtier")
                    .await
            }
            GuestOs::Windows => {
                let pid = self.create(&windows::memory_dirtier(megabytes)).await?;
                self.running_after_start(pid, "the memory dirtier").await?;
                Ok(pid)
            }
        }
    }

    /// Starts `command` (whose program is `program`) in the background on a RHEL guest and
    /// sees it running from a second session. `nohup CMD & echo $!` prints a PID even when
    /// CMD does not exist, so the program is looked up first: one the image lacks is an
    /// environment problem, not a process that "died".
    async fn start_program(&self, program: &str, command: &str, what: &str) -> anyhow::Result<u32> {
        self.require(program).await?;
        let pid = linux::pid(&self.ok(&linux::start_background(command)).await?)?;
        self.running_after_start(pid, what).await?;
        Ok(pid)
    }

    /// Fails with `Environment::MissingTool` when the RHEL guest has no `program`.
    pub async fn require(&self, program: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.os == GuestOs::Rhel,
            "{} is a Windows guest: the harness runs `{program}` on RHEL guests only",
            self.name()
        );
        let lookup = linux::locate(program);
        let out = self.exec(&lookup).await?;
        if linux::located(&out)? {
            return Ok(());
        }
        Err(self.lacks(program.to_string(), &lookup, &out).into())
    }

    /// Runs a `Win32_Process.Create` script and answers the new PID.
    async fn create(&self, script: &str) -> anyhow::Result<u32> {
        match windows::created(&self.ok(script).await?)? {
            Ok(pid) => Ok(pid),
            Err(code) => anyhow::bail!(
                "{}: Win32_Process.Create answered ReturnValue {code} for `{script}`",
                self.name()
            ),
        }
    }

    /// A process started in one SSH session is still there when another session looks: a
    /// shell that ends what its session started (Windows OpenSSH's job object) fails here,
    /// not later as a "lost" process in the middle of a scenario.
    async fn running_after_start(&self, pid: u32, what: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.alive(pid).await?,
            "{}: {what} (PID {pid}) is not running once the session that started it ended",
            self.name()
        );
        Ok(())
    }

    /// Ends a process the scenario started.
    pub async fn stop(&self, pid: u32) -> anyhow::Result<()> {
        let command = match self.os {
            GuestOs::Rhel => format!("kill {pid}"),
            GuestOs::Windows => format!("Stop-Process -Id {pid}"),
        };
        self.ok(&command).await.map(drop)
    }

    pub async fn alive(&self, pid: u32) -> anyhow::Result<bool> {
        Ok(match self.os {
            GuestOs::Rhel => linux::exists(&self.exec(&linux::process_exists(pid)).await?)?,
            GuestOs::Windows => windows::exists(&self.exec(&windows::process_exists(pid)).await?)?,
        })
    }

    /// The guest's interfaces with MACs, link state and addresses.
    pub async fn interfaces(&self) -> anyhow::Result<Vec<Interface>> {
        Ok(match self.os {
            GuestOs::Rhel => linux::interfaces(&self.ok(linux::IP_ADDR).await?)?,
            GuestOs::Windows => {
                let adapters = self.ok(windows::ADAPTERS).await?;
                let addresses = self.ok(windows::ADDRESSES).await?;
                windows::interfaces(&adapters, &addresses)?
            }
        })
    }

    /// The guest interface with `mac`, or an error listing what the guest has.
    pub async fn interface_with_mac(&self, mac: &str) -> anyhow::Result<Interface> {
        let all = self.interfaces().await?;
        let mac = mac.to_lowercase();
        let names: Vec<String> = all
            .iter()
            .map(|i| format!("{} {}", i.name, i.mac))
            .collect();
        all.into_iter().find(|i| i.mac == mac).with_context(|| {
            format!(
                "{} has no interface with MAC {mac}; it has {names:?}",
                self.name()
            )
        })
    }

    /// Whether any of a few echo requests to `address` is answered.
    pub async fn reaches(&self, address: IpAddr) -> anyhow::Result<bool> {
        Ok(match self.os {
            GuestOs::Rhel => {
                let out = self.exec(&linux::ping(address, ECHOES, None)).await?;
                let summary = linux::ping_summary(&out.stdout)
                    .with_context(|| format!("ping exited {}: {}", out.code, out.stderr))?;
                summary.received > 0
            }
            GuestOs::Windows => {
                let command = windows::test_connection(address, ECHOES);
                windows::answered(&self.ok(&command).await?)?
            }
        })
    }

    /// Asserts `address` answers (positive probe), probing again until it does within
    /// `budget`: right after a NIC is plugged its addresses come a few seconds after its link
    /// (NetworkManager's activation, IPv6 duplicate address detection), and a migration can
    /// cost the first echoes while switches learn where the guest went.
    pub async fn assert_reaches(&self, address: IpAddr, budget: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + budget;
        let mut probes = 0;
        loop {
            probes += 1;
            if self.reaches(address).await? {
                return Ok(());
            }
            let now = tokio::time::Instant::now();
            anyhow::ensure!(
                now < deadline,
                "{} does not reach {address}: all {ECHOES} echo requests of each of {probes} \
                 probes within {budget:?} were lost",
                self.name()
            );
            tokio::time::sleep(RETRY_PAUSE.min(deadline - now)).await;
        }
    }

    /// Asserts `address` does not answer over a window (negative probe): one guest command
    /// sends [`ISOLATION_ECHOES`] echo requests [`ISOLATION_INTERVAL_SECS`] apart, and any
    /// answer among them is a failure naming how many of how many were answered.
    pub async fn assert_isolated_from(&self, address: IpAddr) -> anyhow::Result<()> {
        let sampled = self.sample(address).await?;
        anyhow::ensure!(
            sampled.answered == 0,
            "{} reaches {address}, which it must not: {} of {} echo requests sent {ISOLATION_INTERVAL_SECS} s apart over {} s were answered",
            self.name(),
            sampled.answered,
            sampled.sent,
            ISOLATION_WINDOW_SECS
        );
        Ok(())
    }

    /// The echoes of one windowed probe of `address`, and how many were answered.
    async fn sample(&self, address: IpAddr) -> anyhow::Result<Sampled> {
        Ok(match self.os {
            GuestOs::Rhel => {
                let command = linux::ping_every(address, ISOLATION_ECHOES, ISOLATION_INTERVAL_SECS);
                let out = self.exec(&command).await?;
                let summary = linux::ping_summary(&out.stdout)
                    .with_context(|| format!("ping exited {}: {}", out.code, out.stderr))?;
                Sampled {
                    answered: summary.received,
                    sent: summary.transmitted,
                }
            }
            GuestOs::Windows => {
                let command = windows::test_connection_every(
                    address,
                    ISOLATION_ECHOES,
                    ISOLATION_INTERVAL_SECS,
                );
                Sampled {
                    answered: windows::echoes_answered(&self.ok(&command).await?)?,
                    sent: ISOLATION_ECHOES,
                }
            }
        })
    }

    /// The guest interface with `mac` once it has an address, read again until it does
    /// within `budget`: a hot-plugged NIC's link comes before NetworkManager configures it.
    pub async fn addressed_interface(
        &self,
        mac: &str,
        budget: Duration,
    ) -> anyhow::Result<Interface> {
        let deadline = tokio::time::Instant::now() + budget;
        loop {
            let found = self.interface_with_mac(mac).await;
            let now = tokio::time::Instant::now();
            match found {
                Ok(i) if !i.addresses.is_empty() => return Ok(i),
                Ok(i) if now >= deadline => anyhow::bail!(
                    "{}: {} ({mac}) has no address after {budget:?}",
                    self.name(),
                    i.name
                ),
                Err(e) if now >= deadline => return Err(e),
                _ => tokio::time::sleep(RETRY_PAUSE.min(deadline - now)).await,
            }
        }
    }

    pub async fn cpu_count(&self) -> anyhow::Result<u32> {
        Ok(match self.os {
            GuestOs::Rhel => linux::nproc(&self.ok(linux::NPROC).await?)?,
            GuestOs::Windows => windows::nproc(&self.ok(windows::NPROC).await?)?,
        })
    }

    /// Memory the guest sees, in bytes.
    pub async fn memory_bytes(&self) -> anyhow::Result<u64> {
        Ok(match self.os {
            GuestOs::Rhel => linux::meminfo_total(&self.ok(linux::MEMTOTAL).await?)?,
            GuestOs::Windows => windows::total_memory(&self.ok(windows::TOTAL_MEMORY).await?)?,
        })
    }

    /// Starts a TCP listener on `port` (Linux guests) and sees it running from a second
    /// session; returns its PID.
    pub async fn listen(&self, port: u16) -> anyhow::Result<u32> {
        let pid = self
            .start_program("python3", &linux::listener(port), "the TCP listener")
            .await?;
        self.accepting(pid, port).await?;
        Ok(pid)
    }

    /// Waits until the listener `pid` accepts on `port`: python3 binds a fraction of a
    /// second after it starts, and a client connecting before that is refused. A bind has
    /// nothing to watch, hence a bounded retry.
    async fn accepting(&self, pid: u32, port: u16) -> anyhow::Result<()> {
        let local = IpAddr::from([127, 0, 0, 1]);
        for attempt in 0..LISTEN_ATTEMPTS {
            if self.accepts(local, port).await? {
                return Ok(());
            }
            anyhow::ensure!(
                self.alive(pid).await?,
                "{}: the TCP listener (PID {pid}) exited before it accepted on port {port}",
                self.name()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100 << attempt.min(3))).await;
        }
        anyhow::bail!(
            "{}: the TCP listener (PID {pid}) runs but does not accept on port {port} after {LISTEN_ATTEMPTS} probes",
            self.name()
        )
    }

    /// Opens a TCP connection to `address`:`port` and keeps it open, and sees the client
    /// running from a second session (a refused connection ends it at once); returns the
    /// client PID.
    pub async fn hold_connection(&self, address: IpAddr, port: u16) -> anyhow::Result<u32> {
        self.require("sleep").await?;
        let pid = linux::pid(&self.ok(&linux::hold_connection(address, port)).await?)?;
        let what = format!("the TCP client of {address}:{port} (was the connection refused?)");
        self.running_after_start(pid, &what).await?;
        Ok(pid)
    }

    /// Whether something accepts a TCP connection at `address`:`port` (Linux guests).
    pub async fn accepts(&self, address: IpAddr, port: u16) -> anyhow::Result<bool> {
        self.require("timeout").await?;
        Ok(linux::accepted(
            &self.exec(&linux::tcp_probe(address, port)).await?,
        )?)
    }

    /// Established TCP connections in this guest: (local, peer).
    pub async fn established(&self) -> anyhow::Result<Vec<(SocketAddr, SocketAddr)>> {
        Ok(linux::established(&self.ok(linux::ESTABLISHED).await?)?)
    }

    /// The established TCP connection to `address`:`port`, as (local, peer).
    pub async fn connection_to(
        &self,
        address: IpAddr,
        port: u16,
    ) -> anyhow::Result<(SocketAddr, SocketAddr)> {
        let all = self.established().await?;
        all.iter()
            .find(|(_, peer)| peer.ip() == address && peer.port() == port)
            .copied()
            .with_context(|| {
                format!(
                    "{} has no established connection to {address}:{port}; it has {all:?}",
                    self.name()
                )
            })
    }
}

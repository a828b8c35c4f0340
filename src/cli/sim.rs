//! `vstp sim serve`: the simulated cluster in the foreground, for kubectl and manual runs.

use std::path::{Path, PathBuf};

use tokio::signal::unix::{signal, Signal, SignalKind};
use vstp_sim::{Sim, SimConfig};

use super::exit;
use crate::cluster::guest_lane::{self, Guests};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Serve a simulated cluster on 127.0.0.1 until Ctrl-C, and write a kubeconfig for it.
    Serve(ServeArgs),
    /// The fault catalogue, one fault a line: NAME KIND DESCRIPTION.
    Faults,
    /// Build (or find in the cache) the real-guest lane's Linux image from Debian packages,
    /// and print where it is.
    GuestImage,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write the kubeconfig (default: vstp-sim-<port>.kubeconfig in the temp folder).
    /// An existing file is only replaced if vstp wrote it.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Virtual seconds per real second for modelled durations (boots, migrations); default
    /// 60, and 10 with `--guests qemu` (a real guest boots in real seconds).
    #[arg(long)]
    time_scale: Option<f64>,
    /// Comma-separated faults from the catalogue (`--faults help` lists them).
    #[arg(long, default_value = "")]
    faults: String,
    /// Seed that varies modelled durations (up to ±20%) so runs interleave differently;
    /// without one, durations are exact.
    #[arg(long)]
    seed: Option<u64>,
    /// Tidy worker nodes of the simulated cluster (besides 3 control-plane nodes and, unless
    /// --tidy, an infra node, a NotReady worker, a worker without spare NICs and one whose
    /// spare NICs are bonded or down).
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Leave out the untidy nodes: control planes and identical workers only.
    #[arg(long)]
    tidy: bool,
    /// How long modelled operations take: `simulator` (short, the default) or `bare-metal`
    /// (a three-worker bare-metal cluster's boots, NNCP applies and migrations; each value's
    /// source is in sim/src/durations.rs). Raise --time-scale to get through them quickly.
    #[arg(long, default_value = "simulator", value_parser = check_durations)]
    durations: String,
    /// A package the RHEL golden image has beyond a RHEL 9 KVM guest image's, as in an image
    /// built with it (`nmap-ncat`, `stress-ng`); repeat for several.
    #[arg(long = "image-package", value_name = "PACKAGE")]
    image_packages: Vec<String>,
    /// The RHEL guests reach a package repository (`dnf install` works; by default none does).
    #[arg(long)]
    image_repository: bool,
    /// Guests: `emulated` (default) or `qemu`, real Linux kernels under qemu (TCG; Windows
    /// guests stay emulated). Default: `VSTP_GUESTS`, else emulated.
    #[arg(long, value_enum, env = "VSTP_GUESTS", default_value_t = Guests::Emulated)]
    guests: Guests,
    /// The most qemu processes alive at once in the qemu lane.
    #[arg(long, env = "VSTP_QEMU_PROCESSES", default_value_t = guest_lane::MOST_VMS_PER_SCENARIO)]
    qemu_processes: usize,
    /// Permissions the token lacks, as SelfSubjectAccessReview answers them: comma-separated
    /// VERB:RESOURCE[.GROUP] (`create:nodenetworkconfigurationpolicies.nmstate.io`); by
    /// default the token may do everything.
    #[arg(long, default_value = "")]
    deny: String,
}

fn check_durations(name: &str) -> Result<String, String> {
    vstp_sim::durations::Durations::named(name).map(|_| name.to_string())
}

fn guest_image() -> u8 {
    let cache = vstp_sim::qemu::image::cache_root();
    match vstp_sim::qemu::image::ensure(&cache, &mut |m| eprintln!("vstp: {m}")) {
        Ok(image) => {
            println!("kernel    {}", image.kernel.display());
            println!("initramfs {}", image.initramfs.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

/// The guests `serve` runs: the qemu lane builds its image first when the cache lacks it.
fn guests(args: &ServeArgs) -> anyhow::Result<vstp_sim::qemu::Guests> {
    if args.guests == Guests::Emulated {
        return Ok(vstp_sim::qemu::Guests::Emulated);
    }
    if args.qemu_processes == 0 {
        anyhow::bail!("--qemu-processes 0: give at least 1 (qemu processes alive at once)");
    }
    let cache = vstp_sim::qemu::image::cache_root();
    let image = vstp_sim::qemu::image::ensure(&cache, &mut |m| eprintln!("vstp: {m}"))
        .map_err(anyhow::Error::msg)?;
    let lane = vstp_sim::qemu::Lane::new(image, args.qemu_processes).map_err(anyhow::Error::msg)?;
    Ok(vstp_sim::qemu::Guests::Qemu(std::sync::Arc::new(lane)))
}

/// First line of every kubeconfig vstp writes, so it never replaces a file it did not write.
const MARKER: &str = "# written by `vstp sim serve`; removed when it stops";

pub fn main(command: &Command) -> u8 {
    let args = match command {
        Command::Serve(args) => args,
        Command::Faults => {
            print!("{}", catalogue());
            return exit::OK;
        }
        Command::GuestImage => return guest_image(),
    };
    if args.faults.trim() == "help" {
        print!("{}", catalogue());
        return exit::OK;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILED;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::USAGE
        }
    }
}

fn check_replaceable(path: &Path) -> anyhow::Result<()> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.starts_with(MARKER) => anyhow::bail!(
            "{} exists and was not written by vstp; pass another --kubeconfig-out so it is not overwritten",
            path.display()
        ),
        _ => Ok(()),
    }
}

async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.kubeconfig_out {
        check_replaceable(path)?;
    }
    let spec = vstp_sim::world::nodes::ClusterSpec {
        workers: args.workers,
        untidy: !args.tidy,
        durations: vstp_sim::durations::Durations::named(&args.durations)
            .map_err(|e| anyhow::anyhow!("--durations: {e}"))?,
        image: vstp_sim::guest::image::GuestImage {
            extra_packages: args.image_packages.clone(),
            repository: args.image_repository,
        },
        guests: guests(args)?,
        ..Default::default()
    };
    let config = SimConfig {
        port: args.port,
        time_scale: args.time_scale.unwrap_or(match args.guests {
            Guests::Emulated => vstp_sim::DEFAULT_TIME_SCALE,
            Guests::Qemu => guest_lane::QEMU_TIME_SCALE,
        }),
        faults: args.faults.clone(),
        seed: args.seed,
        role: vstp_sim::access::Role::denying(&args.deny)
            .map_err(|e| anyhow::anyhow!("--deny: {e}"))?,
        ..SimConfig::cluster(spec)?
    };
    let sim = Sim::start(config).await?;
    let path = args.kubeconfig_out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("vstp-sim-{}.kubeconfig", sim.port()))
    });
    check_replaceable(&path)?;
    // Listen for the stop signals before telling anyone we are up, so an early one is not fatal.
    let stop = StopSignals::new()?;
    write_kubeconfig(&path, &sim.kubeconfig())?;
    println!("vstp-sim serving {}", sim.url());
    println!("export KUBECONFIG={}", path.display());
    println!("Ctrl-C stops it and removes the kubeconfig.");
    stop.wait().await;
    drop(sim);
    let _ = std::fs::remove_file(&path);
    Ok(())
}

fn write_kubeconfig(path: &Path, body: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write the kubeconfig {}: {e}", path.display()))?;
    writeln!(file, "{MARKER}")?;
    file.write_all(body.as_bytes())?;
    Ok(())
}

struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn new() -> anyhow::Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// `NAME KIND DESCRIPTION`, one fault a line.
pub fn catalogue() -> String {
    vstp_sim::faults::CATALOGUE
        .iter()
        .map(|f| format!("{:<30} {:<7} {}\n", f.name, f.kind.name(), f.what))
        .collect()
}

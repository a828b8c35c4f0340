//! The Linux dialect's programs that are not plain file tools: what procps, iproute2,
//! iputils, util-linux, python3 and (when the image has them) nmap-ncat and stress-ng print,
//! in their exact formats (see fixtures/guest/linux/). The shell (guest/posix) finds them and
//! passes their arguments.

mod iproute;
mod iproute_text;
mod iputils;
mod memory;
mod ping_job;
mod procps;
mod python;

use super::command::{Command, Output};
use super::{lock, ncat, tcp, GuestRef};
use crate::quantity;

pub use iproute::link_local;

/// Runs one foreground program of the image (the shell resolved its name).
pub fn run(guest: &GuestRef, cmd: Command<'_>) -> Output {
    let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    if args[0] == "ss" {
        return tcp::established(guest, cmd.net);
    }
    if ncat::is_ncat(args[0]) {
        return match ncat::parse(&args) {
            Some(ncat::Ncat::Probe(dst, port)) => tcp::probe(guest, dst, port, cmd.net),
            _ => Output::fail(2, format!("{}: the simulated guest runs listeners and clients only in the background (end the command with &); probe with -z\n", args[0])),
        };
    }
    if args[0] == "ping" {
        return iputils::ping(guest, &args[1..], cmd.net);
    }
    let g = &mut lock(guest);
    match args[0] {
        "hostname" => Output::ok(format!("{}\n", g.hostname)),
        "uname" => Output::ok(if args.contains(&"-r") { format!("{}\n", g.distro.kernel_release) } else { "Linux\n".to_string() }),
        "nproc" => Output::ok(format!("{}\n", g.vcpus)),
        "free" => memory::free(g, &args[1..]),
        "lsmem" => Output::ok(memory::lsmem(g)),
        "ip" => iproute::ip(g, &args[1..]),
        "ps" => procps::ps(g, &args[1..]),
        "pgrep" => procps::pgrep(g, &args[1..]),
        "python3" => python::run(&args[1..]),
        "stress-ng" => Output::fail(1, "stress-ng: the simulated guest runs stress-ng only in the background (end the command with &)\n"),
        other => Output::fail(127, format!("bash: line 1: {other}: command not found\n")),
    }
}

/// `ping ARGS > path &` as process `pid`: see ping_job.rs. A refused command line (or an
/// interval under iputils' limit for a user other than root) ends the job at once with ping's
/// message in the file.
pub fn ping_in_background(
    guest: &GuestRef,
    net: &dyn super::Network,
    command: &[String],
    root: bool,
    pid: u32,
    path: String,
) {
    let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
    let refused = match ping_job::parse(&args) {
        Ok(job) if job.interval < iputils::MIN_USER_INTERVAL && !root => {
            Err(iputils::TOO_FAST.to_string())
        }
        other => other,
    };
    match refused {
        Ok(job) => ping_job::start(guest, net, job, pid, path),
        Err(message) => {
            let mut g = lock(guest);
            g.processes.remove(&pid);
            g.files.insert(path, message);
        }
    }
}

/// Starts `cmd` in the background and returns its PID (`$!`).
pub fn start_background(guest: &GuestRef, cmd: &Command<'_>) -> u32 {
    let line = cmd.args.join(" ");
    let words: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
    if let Some(ncat::Ncat::Connect(dst, port)) =
        ncat::parse(&words).filter(|_| ncat::is_ncat(words[0]))
    {
        return tcp::connect(guest, &line, dst, port, cmd.net);
    }
    let g = &mut lock(guest);
    let dirty = match words[0] {
        "stress-ng" => stress_ng_load(&cmd.args),
        "python3" => python_load(&words[1..]),
        _ => None,
    };
    let pid = g.spawn(&line, dirty);
    if let Some(port) = listener_port(&words) {
        // A second listener on the port fails to bind and exits (EADDRINUSE).
        match g.listening_ports().contains(&port) {
            true => drop(g.processes.remove(&pid)),
            false => g.processes.get_mut(&pid).expect("just spawned").listen = Some(port),
        }
    }
    if matches!(python_refusal(&words), Some(true)) {
        g.processes.remove(&pid);
    }
    pid
}

// cpython 3.9 Lib/socketserver.py TCPServer.server_bind (EADDRINUSE ends http.server)
/// The port a listener program binds: `ncat -l PORT`, `python3 -m http.server PORT`.
fn listener_port(words: &[&str]) -> Option<u16> {
    match words.first().copied()? {
        "python3" => match python::parse(&words[1..]) {
            python::Python::HttpServer(port) => Some(port),
            _ => None,
        },
        w if ncat::is_ncat(w) => match ncat::parse(words)? {
            ncat::Ncat::Listen(port) => Some(port),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a background python3 exits at once: bad arguments, or something it runs and ends.
fn python_refusal(words: &[&str]) -> Option<bool> {
    use python::Python::{DirtyPages, HttpServer};
    (words.first() == Some(&"python3"))
        .then(|| !matches!(python::parse(&words[1..]), HttpServer(_) | DirtyPages(_)))
}

/// The page dirtier's load: its MiB, rewritten at [`python::DIRTY_PAGES_RATE`].
fn python_load(args: &[&str]) -> Option<(f64, f64)> {
    match python::parse(args) {
        python::Python::DirtyPages(mib) => {
            Some((python::DIRTY_PAGES_RATE, f64::from(mib) * quantity::MIB))
        }
        _ => None,
    }
}

/// `stress-ng --vm N --vm-bytes X --vm-keep`: N workers, each re-writing X bytes as fast as
/// memory allows (about 1 GiB/s per worker).
fn stress_ng_load(args: &[String]) -> Option<(f64, f64)> {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let workers: f64 = value("--vm")?.parse().ok()?;
    let bytes = value("--vm-bytes")
        .and_then(|b| quantity::parse(b))
        .unwrap_or(256.0 * quantity::MIB);
    Some((workers * quantity::GIB, workers * bytes))
}

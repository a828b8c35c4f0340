//! `ping … > FILE &`: iputils ping as a background job whose output goes to a file, line by
//! line as it happens, so that a probe can run through a migration and be read afterwards.
//! Each echo meets the network as it is when it leaves (guest/echoes.rs). With `-D` every
//! line starts with the guest's wall clock as `[seconds.microseconds] ` (iputils
//! ping/ping_common.c `print_timestamp`, gettimeofday); with `-O` an echo still unanswered
//! when the next one leaves is reported then as `no answer yet for icmp_seq=N` (ping_common.c
//! `main_loop`, `opt_outstanding`). The job ends after `-c` echoes, at the `-w` deadline, or
//! when it is killed; as a killed job it prints no statistics (the model does not tell the
//! signals apart).
//!
//! Simplification: an echo whose neighbour resolution would fail is reported as unanswered
//! rather than with iputils' later "Destination Host Unreachable".

use std::net::IpAddr;
use std::thread;

use crate::guest::echoes;
use crate::guest::sender::Sender;
use crate::guest::{lock, GuestRef, Network};

/// What the job was asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub host: String,
    pub dst: IpAddr,
    pub interval: f64,
    pub count: Option<u64>,
    /// Modelled seconds after which it stops (`-w`).
    pub deadline: Option<f64>,
    pub timestamps: bool,
    pub outstanding: bool,
    pub iface: Option<String>,
}

/// Reads the command line; an error is ping's own message.
pub fn parse(args: &[&str]) -> Result<Job, String> {
    let mut job = Job {
        host: String::new(),
        dst: IpAddr::from([0, 0, 0, 0]),
        interval: 1.0,
        count: None,
        deadline: None,
        timestamps: false,
        outstanding: false,
        iface: None,
    };
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).copied().unwrap_or("");
        let number = || {
            value
                .parse::<f64>()
                .map_err(|_| format!("ping: invalid argument: '{value}'\n"))
        };
        match args[i] {
            "-D" => job.timestamps = true,
            "-O" => job.outstanding = true,
            "-4" | "-6" | "-n" | "-q" => {}
            "-i" => (job.interval, i) = (number()?, i + 1),
            "-w" => (job.deadline, i) = (Some(number()?), i + 1),
            "-c" => (job.count, i) = (Some(number()? as u64), i + 1),
            "-I" => (job.iface, i) = (Some(value.to_string()), i + 1),
            "-W" | "-s" | "-t" => i += 1,
            a if a.starts_with('-') => return Err(format!("ping: invalid option -- '{a}'\n")),
            a => job.host = a.to_string(),
        }
        i += 1;
    }
    job.dst = job
        .host
        .parse()
        .map_err(|_| format!("ping: {}: Name or service not known\n", job.host))?;
    Ok(job)
}

/// Starts the job as process `pid` of `guest`, writing to `path`.
pub fn start(guest: &GuestRef, net: &dyn Network, job: Job, pid: u32, path: String) {
    let Some(net) = net.detached() else {
        return;
    };
    let header = match job.dst {
        IpAddr::V4(_) => format!("PING {0} ({0}) 56(84) bytes of data.\n", job.host),
        IpAddr::V6(_) => format!("PING {0}({0}) 56 data bytes\n", job.host),
    };
    let boot = {
        let mut g = lock(guest);
        g.files.insert(path.clone(), header);
        g.boot_id.clone()
    };
    let guest = guest.clone();
    thread::spawn(move || run(&guest, &*net, &job, pid, &path, &boot));
}

fn run(guest: &GuestRef, net: &dyn Network, job: &Job, pid: u32, path: &str, boot: &str) {
    let mut pending: Option<u64> = None;
    let mut elapsed = 0.0;
    for seq in 1.. {
        if job.count.is_some_and(|c| seq > c) || job.deadline.is_some_and(|d| elapsed >= d) {
            break;
        }
        if !alive(guest, pid, boot) {
            return;
        }
        if let Some(unanswered) = pending.take().filter(|_| job.outstanding) {
            append(
                guest,
                path,
                job,
                &format!("no answer yet for icmp_seq={unanswered}"),
            );
        }
        let sender = Sender::snapshot(guest);
        if sender.reaches(job.dst, job.iface.as_deref(), net) {
            let time = format!("0.{:03}", 180 + seq * 7 % 90);
            let line = format!(
                "64 bytes from {}: icmp_seq={seq} ttl=64 time={time} ms",
                job.host
            );
            append(guest, path, job, &line);
        } else {
            pending = Some(seq);
        }
        echoes::pass(guest, job.interval);
        elapsed += job.interval;
    }
    lock(guest).processes.remove(&pid);
}

/// The job's process still runs in the same boot.
fn alive(guest: &GuestRef, pid: u32, boot: &str) -> bool {
    let g = lock(guest);
    g.boot_id == boot && g.processes.contains_key(&pid)
}

fn append(guest: &GuestRef, path: &str, job: &Job, line: &str) {
    let mut g = lock(guest);
    let stamp = if job.timestamps {
        let now = g.clock.now();
        format!(
            "[{}.{:06}] ",
            now.timestamp(),
            now.timestamp_subsec_micros()
        )
    } else {
        String::new()
    };
    let text = g.files.entry(path.to_string()).or_default();
    text.push_str(&format!("{stamp}{line}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measuring_command_line() {
        let job = parse(&[
            "-D", "-O", "-i", "0.01", "-w", "120", "-I", "eth1", "fd10::2",
        ])
        .unwrap();
        assert!(job.timestamps && job.outstanding);
        assert_eq!((job.interval, job.deadline), (0.01, Some(120.0)));
        assert_eq!(job.iface.as_deref(), Some("eth1"));
        assert_eq!(job.dst, "fd10::2".parse::<IpAddr>().unwrap());
        assert!(parse(&["-D", "nowhere"]).is_err());
    }
}

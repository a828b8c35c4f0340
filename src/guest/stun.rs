//! Stun-time probes: iputils `ping` run in the background inside a guest through a live
//! migration, its timestamped output read back afterwards, and the gap in it.
//!
//! The probe is `ping -D -O -i 0.01 -w DEADLINE DST > LOG 2>&1 &` as root (iputils refuses
//! intervals under 200 ms to other users). `-D` prefixes each line with the sender's wall
//! clock as `[seconds.microseconds]` (iputils ping_common.c `print_timestamp`); `-O` prints
//! `no answer yet for icmp_seq=N` when echo N is still unanswered as the next one leaves
//! (`main_loop`). The log lives in the guest, so the probe survives the migration cutting the
//! harness's connection to a migrating guest.
//!
//! **Stun time** is the longest interval between two consecutive answers, from the prober's
//! timestamps: the silence an application sees, from the last answer before the gap to the
//! first one after. It is not the number of lost echoes times the interval, because a sender
//! that is itself paused (the migrating VM as client) sends nothing while paused, so nothing
//! is "lost" there; and the answers' own timestamps make the value independent of how fast
//! the probe actually ran. Its resolution is the probe interval. A probe that never recovers
//! (or never got an answer) reports the gap up to its last line as a lower bound.

use std::net::IpAddr;

use anyhow::Context as _;

use super::access::Guest;

/// Seconds between two echoes.
pub const INTERVAL: f64 = 0.01;

/// One timestamped line of the probe's log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// The prober's wall clock, seconds since the epoch.
    pub at: f64,
    pub seq: u64,
    pub answered: bool,
}

/// A probe running in a guest.
pub struct Probe {
    pub log: String,
    pub pid: u32,
}

/// Starts a probe from `guest` to `dst` that stops by itself after `deadline` seconds.
pub async fn start(guest: &Guest, dst: IpAddr, tag: &str, deadline: f64) -> anyhow::Result<Probe> {
    let log = format!("/tmp/stuntime-{tag}.log");
    let family = if dst.is_ipv6() { "-6" } else { "-4" };
    let command = format!(
        "sudo nohup ping {family} -D -O -i {INTERVAL} -w {} {dst} > {log} 2>&1 & echo $!",
        deadline.ceil()
    );
    let out = guest.ok(&command).await?;
    let pid = out.trim().parse().with_context(|| {
        format!("starting the probe `{command}` printed {out:?}, not the PID of the background job")
    })?;
    Ok(Probe { log, pid })
}

/// Stops the probe (if it still runs) and reads what it printed.
pub async fn stop(guest: &Guest, probe: &Probe) -> anyhow::Result<String> {
    // Already gone is fine: the deadline may have ended it.
    guest.exec(&format!("sudo kill -INT {}", probe.pid)).await?;
    guest.ok(&format!("cat {}", probe.log)).await
}

/// The timestamped events of a probe's log; a log without any is an error saying what it held.
pub fn events(log: &str) -> anyhow::Result<Vec<Event>> {
    let events: Vec<Event> = log.lines().filter_map(event).collect();
    anyhow::ensure!(
        !events.is_empty(),
        "the probe printed no timestamped reply or `no answer yet` line (does this ping honour -D and -O?); it printed:\n{}",
        log.lines().take(10).collect::<Vec<_>>().join("\n")
    );
    Ok(events)
}

fn event(line: &str) -> Option<Event> {
    let rest = line.strip_prefix('[')?;
    let (stamp, text) = rest.split_once("] ")?;
    let at: f64 = stamp.parse().ok()?;
    let seq_of = |t: &str| -> Option<u64> {
        let tail = t.split("icmp_seq=").nth(1)?;
        tail.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    if text.starts_with("no answer yet for icmp_seq=") {
        return Some(Event {
            at,
            seq: seq_of(text)?,
            answered: false,
        });
    }
    if text.contains(" bytes from ") {
        return Some(Event {
            at,
            seq: seq_of(text)?,
            answered: true,
        });
    }
    None
}

/// The gap of a probe, in the prober's seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gap {
    /// The last answer before the gap (or the first line when none came before).
    pub from: f64,
    /// The first answer after it (or the last line when none came after).
    pub to: f64,
    /// Whether answers came again after it.
    pub recovered: bool,
}

impl Gap {
    pub fn seconds(&self) -> f64 {
        self.to - self.from
    }
}

/// The longest silence between two consecutive answers (see the module doc). A probe that
/// got no answer at all was silent throughout: its whole span, not recovered.
pub fn stun(events: &[Event]) -> anyhow::Result<Gap> {
    let answers: Vec<f64> = events.iter().filter(|e| e.answered).map(|e| e.at).collect();
    let (Some(first_line), Some(last_line)) = (events.first(), events.last()) else {
        anyhow::bail!("the probe printed no timestamped line");
    };
    let Some(first) = answers.first() else {
        return Ok(Gap {
            from: first_line.at,
            to: last_line.at,
            recovered: false,
        });
    };
    let mut gap = Gap {
        from: first_line.at,
        to: *first,
        recovered: true,
    };
    for pair in answers.windows(2) {
        if pair[1] - pair[0] > gap.seconds() {
            gap = Gap {
                from: pair[0],
                to: pair[1],
                recovered: true,
            };
        }
    }
    let last = answers[answers.len() - 1];
    if last_line.at - last > gap.seconds() {
        gap = Gap {
            from: last,
            to: last_line.at,
            recovered: false,
        };
    }
    Ok(gap)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "PING 10.200.1.10 (10.200.1.10) 56(84) bytes of data.
[1700000000.000100] 64 bytes from 10.200.1.10: icmp_seq=1 ttl=64 time=0.310 ms
[1700000000.010200] 64 bytes from 10.200.1.10: icmp_seq=2 ttl=64 time=0.290 ms
[1700000000.030000] no answer yet for icmp_seq=3
[1700000000.040000] no answer yet for icmp_seq=4
[1700000000.350300] 64 bytes from 10.200.1.10: icmp_seq=35 ttl=64 time=0.300 ms
[1700000000.360300] 64 bytes from 10.200.1.10: icmp_seq=36 ttl=64 time=0.280 ms
";

    #[test]
    fn the_stun_time_runs_from_the_last_answer_to_the_next() {
        let events = events(LOG).unwrap();
        assert_eq!(events.len(), 6);
        assert!(!events[2].answered && events[2].seq == 3);
        let gap = stun(&events).unwrap();
        assert!((gap.seconds() - 0.3401).abs() < 1e-6, "{gap:?}");
        assert!(gap.recovered);
    }

    #[test]
    fn real_iputils_output_reads() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/guest/linux/");
        let read = |f: &str| std::fs::read_to_string(format!("{root}{f}")).unwrap();
        let ok = events(&read("ping_D_O_ok.txt")).unwrap();
        assert_eq!(ok.len(), 4);
        assert!(ok.iter().all(|e| e.answered) && ok[3].seq == 4);
        let lost = events(&read("ping_D_O_lost.txt")).unwrap();
        assert!(!lost.is_empty() && lost.iter().all(|e| !e.answered));
        assert!(!stun(&lost).unwrap().recovered);
    }

    #[test]
    fn a_probe_that_never_recovers_reports_the_silence_up_to_its_last_line() {
        let cut = LOG.lines().take(5).collect::<Vec<_>>().join("\n");
        let gap = stun(&events(&cut).unwrap()).unwrap();
        assert!(!gap.recovered);
        assert!((gap.seconds() - 0.0298).abs() < 1e-6, "{gap:?}");
    }

    #[test]
    fn a_log_without_timestamps_is_an_error_a_silent_probe_one_long_gap() {
        let plain = "PING x\n64 bytes from x: icmp_seq=1 ttl=64 time=0.3 ms\n";
        let e = events(plain).unwrap_err().to_string();
        assert!(e.contains("-D and -O"), "{e}");
        let silent = "[1.0] no answer yet for icmp_seq=1\n[2.0] no answer yet for icmp_seq=2\n";
        let gap = stun(&events(silent).unwrap()).unwrap();
        assert_eq!((gap.seconds(), gap.recovered), (1.0, false));
    }
}

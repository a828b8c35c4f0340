//! iputils `ping` (20210202, RHEL 9's): echoes sent `-i` seconds apart on the guest's clock,
//! each answered according to the network when it leaves (guest/echoes.rs), then the
//! statistics `finish()` prints (iputils ping/ping_common.c).

use std::net::IpAddr;

use crate::guest::command::Output;
use crate::guest::echoes::{self, Echo};
use crate::guest::{GuestRef, Network};

/// What the command line asks for.
struct Asked<'a> {
    count: u32,
    /// Seconds between two echoes (`-i`, default 1).
    interval: f64,
    /// Seconds to wait for a reply when none came (`-W`, default 10).
    linger: f64,
    iface: Option<&'a str>,
    host: Option<&'a str>,
}

fn parse<'a>(args: &[&'a str]) -> Asked<'a> {
    let mut asked = Asked {
        count: 4,
        interval: 1.0,
        linger: 10.0,
        iface: None,
        host: None,
    };
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).copied();
        let seconds = |default: f64| value.and_then(|v| v.parse().ok()).unwrap_or(default);
        match args[i] {
            "-c" => asked.count = value.and_then(|c| c.parse().ok()).unwrap_or(4),
            "-i" => asked.interval = seconds(1.0),
            "-W" => asked.linger = seconds(10.0),
            "-I" => asked.iface = value,
            "-w" | "-s" | "-t" => {}
            a if a.starts_with('-') => {
                i += 1;
                continue;
            }
            a => {
                asked.host = Some(a);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    asked
}

// iputils 20210202 ping/ping_common.c setup(): a user other than root may not send faster
// than MINUSERINTERVAL (200 ms).
pub const MIN_USER_INTERVAL: f64 = 0.2;
pub const TOO_FAST: &str = "ping: cannot flood; minimal interval allowed for user is 200ms\n";

pub fn ping(guest: &GuestRef, args: &[&str], net: &dyn Network) -> Output {
    let asked = parse(args);
    let Some(host) = asked.host else {
        return Output::fail(2, "ping: usage error: Destination address required\n");
    };
    let Ok(dst) = host.parse::<IpAddr>() else {
        return Output::fail(2, format!("ping: {host}: Name or service not known\n"));
    };
    if asked.interval < MIN_USER_INTERVAL {
        return Output::fail(2, TOO_FAST);
    }
    let mut out = match dst {
        IpAddr::V4(_) => format!("PING {host} ({host}) 56(84) bytes of data.\n"),
        IpAddr::V6(_) => format!("PING {host}({host}) 56 data bytes\n"),
    };
    let met = echoes::send(guest, net, dst, asked.iface, asked.count, asked.interval);
    for (seq, echo) in (1..).zip(&met) {
        match echo {
            Echo::Answered => out.push_str(&format!(
                "64 bytes from {host}: icmp_seq={seq} ttl=64 time=0.{:03} ms\n",
                180 + seq * 7 % 90
            )),
            Echo::Unresolved(own) => out.push_str(&format!(
                "From {own} icmp_seq={seq} Destination Host Unreachable\n"
            )),
            Echo::Lost => {}
        }
    }
    let received = met.iter().filter(|e| **e == Echo::Answered).count() as u32;
    let errors = met
        .iter()
        .filter(|e| matches!(e, Echo::Unresolved(_)))
        .count();
    if received == 0 && errors == 0 {
        // Nothing came back: ping waits `-W` for the last echo's reply before it gives up.
        echoes::pass(guest, asked.linger);
    }
    out.push_str(&statistics(
        host,
        asked.count,
        received,
        errors,
        asked.interval,
    ));
    if received > 0 {
        out.push_str("rtt min/avg/max/mdev = 0.187/0.215/0.243/0.021 ms\n");
        Output::ok(out)
    } else {
        out.push('\n');
        Output {
            stdout: out,
            stderr: String::new(),
            code: 1,
        }
    }
}

/// iputils 20210202 ping/ping_common.c finish(): `N packets transmitted, M received[, +E
/// errors], L% packet loss, time Tms`, the loss printed with `%g`.
fn statistics(host: &str, count: u32, received: u32, errors: usize, interval: f64) -> String {
    let errors = match errors {
        0 => String::new(),
        n => format!("+{n} errors, "),
    };
    let loss = f64::from(count - received) * 100.0 / f64::from(count.max(1));
    let time = (f64::from(count.saturating_sub(1)) * interval * 1000.0) as u64 + 3;
    format!(
        "\n--- {host} ping statistics ---\n{count} packets transmitted, {received} received, {errors}{}% packet loss, time {time}ms\n",
        as_g(loss)
    )
}

/// C's `%g`: six significant digits, trailing zeros dropped (66.6667, 70, 0).
fn as_g(value: f64) -> String {
    let integral = if value.abs() < 1.0 {
        1
    } else {
        value.abs().log10().floor() as usize + 1
    };
    let text = format!("{value:.*}", 6usize.saturating_sub(integral));
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_printed_as_c_prints_g() {
        assert_eq!(as_g(200.0 / 3.0), "66.6667");
        assert_eq!(as_g(70.0), "70");
        assert_eq!(as_g(100.0), "100");
        assert_eq!(as_g(0.0), "0");
        assert_eq!(as_g(12.5), "12.5");
    }

    #[test]
    fn options_take_their_values() {
        let a = parse(&[
            "-6", "-c", "10", "-i", "0.5", "-W", "1", "-I", "eth1", "fd00::1",
        ]);
        assert_eq!((a.count, a.interval, a.linger), (10, 0.5, 1.0));
        assert_eq!((a.iface, a.host), (Some("eth1"), Some("fd00::1")));
    }
}

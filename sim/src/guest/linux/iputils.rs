//! iputils `ping`.

use std::net::IpAddr;

use crate::guest::command::Output;
use crate::guest::sender::Sender;

pub fn ping(g: &Sender, args: &[&str], net: &dyn crate::guest::Network) -> Output {
    let mut count = 4u32;
    let mut iface = None;
    let mut host = None;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-c" => {
                count = args.get(i + 1).and_then(|c| c.parse().ok()).unwrap_or(4);
                i += 1;
            }
            "-I" => {
                iface = args.get(i + 1).copied();
                i += 1;
            }
            "-W" | "-w" | "-i" | "-s" | "-t" => i += 1,
            a if a.starts_with('-') => {}
            a => host = Some(a),
        }
        i += 1;
    }
    let Some(host) = host else {
        return Output::fail(2, "ping: usage error: Destination address required\n");
    };
    let Ok(dst) = host.parse::<IpAddr>() else {
        return Output::fail(2, format!("ping: {host}: Name or service not known\n"));
    };
    let answered = g.reaches(dst, iface, net);
    let mut out = match dst {
        IpAddr::V4(_) => format!("PING {host} ({host}) 56(84) bytes of data.\n"),
        IpAddr::V6(_) => format!("PING {host}({host}) 56 data bytes\n"),
    };
    let received = if answered { count } else { 0 };
    for seq in 1..=received {
        out.push_str(&format!(
            "64 bytes from {host}: icmp_seq={seq} ttl=64 time=0.{:03} ms\n",
            180 + seq * 7 % 90
        ));
    }
    // Unanswered on an attached subnet: neighbour resolution fails and the kernel reports
    // each probe as an error; off-link, the packets are simply lost.
    let unresolved = if answered {
        None
    } else {
        g.on_link(dst, iface)
    };
    if let Some(own) = unresolved {
        for seq in 1..=count {
            out.push_str(&format!(
                "From {own} icmp_seq={seq} Destination Host Unreachable\n"
            ));
        }
    }
    let errors = unresolved
        .map(|_| format!("+{count} errors, "))
        .unwrap_or_default();
    let loss = if answered { 0 } else { 100 };
    out.push_str(&format!("\n--- {host} ping statistics ---\n{count} packets transmitted, {received} received, {errors}{loss}% packet loss, time {}ms\n", count.saturating_sub(1) * 1000 + 3));
    if answered {
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

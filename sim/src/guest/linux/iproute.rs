//! iproute2 `ip [-j|-br] [-4|-6] link|addr [show [dev] NAME]`: the links as iproute2's JSON
//! model holds them (iproute2 ip/ipaddress.c print_linkinfo, print_addrinfo); text shapes are in
//! iproute_text.rs.

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::guest::command::Output;
use crate::guest::{Guest, Nic};

/// How `ip` prints.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Long,
    Brief,
    Json,
}

/// The options `ip` takes before the object (iproute2 ip/ip.c main), and the family filter.
fn options<'a>(
    args: &'a [&'a str],
) -> Result<(Format, Option<&'static str>, &'a [&'a str]), Output> {
    let mut format = Format::Long;
    let mut family = None;
    let mut i = 0;
    while let Some(a) = args.get(i).filter(|a| a.starts_with('-')) {
        match *a {
            "-j" | "-json" => format = Format::Json,
            "-br" | "-brief" => format = Format::Brief,
            "-4" => family = Some("inet"),
            "-6" => family = Some("inet6"),
            "-d" | "-details" | "-s" | "-stats" | "-p" | "-pretty" | "-o" | "-oneline" | "-c"
            | "-color" | "-h" | "-human" => {}
            other => {
                return Err(Output::fail(
                    255,
                    format!("Option \"{other}\" is unknown, try \"ip -help\".\n"),
                ))
            }
        }
        i += 1;
    }
    Ok((format, family, &args[i..]))
}

/// `ip [OPTIONS] link|addr [show [dev] NAME]`; objects and commands may be abbreviated.
pub fn ip(g: &Guest, args: &[&str]) -> Output {
    let (format, family, rest) = match options(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let object = rest.first().copied().unwrap_or("");
    let (with_addrs, help) = match object {
        o if !o.is_empty() && "address".starts_with(o) => (true, "ip address help"),
        o if !o.is_empty() && "link".starts_with(o) => (false, "ip link help"),
        "" => return Output::fail(255, "Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n"),
        _ => {
            return Output::fail(
                255,
                format!("Object \"{object}\" is unknown, try \"ip help\".\n"),
            )
        }
    };
    let command = rest.get(1).copied().unwrap_or("show");
    if !["show", "list", "lst", "sh", "ls", "s", "l"].contains(&command) {
        return Output::fail(
            255,
            format!("Command \"{command}\" is unknown, try \"{help}\".\n"),
        );
    }
    let filters: Vec<&str> = rest
        .iter()
        .skip(2)
        .copied()
        .filter(|a| *a != "dev")
        .collect();
    let mut links = vec![loopback(with_addrs)];
    links.extend(
        g.nics
            .iter()
            .enumerate()
            .map(|(i, n)| link(n, i + 2, with_addrs)),
    );
    for filter in &filters {
        match *filter {
            "up" => links.retain(|l| {
                l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f == "UP"))
            }),
            dev => {
                links.retain(|l| l["ifname"] == *dev);
                if links.is_empty() {
                    return Output::fail(1, format!("Device \"{dev}\" does not exist.\n"));
                }
            }
        }
    }
    if let Some(family) = family {
        keep_family(&mut links, family);
    }
    Output::ok(match format {
        Format::Json => format!("{}\n", Value::Array(links)),
        Format::Brief => links
            .iter()
            .map(|l| super::iproute_text::brief(l, with_addrs))
            .collect(),
        Format::Long => links.iter().map(super::iproute_text::long).collect(),
    })
}

/// `-4`/`-6`: only that family's addresses, and with addresses asked, only links that have one.
fn keep_family(links: &mut Vec<Value>, family: &str) {
    for l in links.iter_mut() {
        if let Some(info) = l.get_mut("addr_info").and_then(Value::as_array_mut) {
            info.retain(|a| a["family"] == family);
        }
    }
    links.retain(|l| {
        l.get("addr_info")
            .is_none_or(|a| a.as_array().is_some_and(|a| !a.is_empty()))
    });
}

fn loopback(with_addrs: bool) -> Value {
    let mut l = json!({"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "mtu": 65536,
        "qdisc": "noqueue", "operstate": "UNKNOWN", "group": "default", "txqlen": 1000, "link_type": "loopback",
        "address": "00:00:00:00:00:00", "broadcast": "00:00:00:00:00:00"});
    if !with_addrs {
        l["linkmode"] = json!("DEFAULT");
    }
    if with_addrs {
        l["addr_info"] = json!([
            {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo", "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64},
            {"family": "inet6", "local": "::1", "prefixlen": 128, "scope": "host", "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64}]);
    }
    l
}

fn link(nic: &Nic, index: usize, with_addrs: bool) -> Value {
    let flags: Vec<&str> = if nic.up {
        vec!["BROADCAST", "MULTICAST", "UP", "LOWER_UP"]
    } else {
        vec!["BROADCAST", "MULTICAST"]
    };
    let mut l = json!({"ifindex": index, "ifname": nic.name, "flags": flags, "mtu": 1500, "qdisc": "fq_codel",
        "operstate": if nic.up { "UP" } else { "DOWN" }, "group": "default", "txqlen": 1000, "link_type": "ether",
        "address": nic.mac, "broadcast": "ff:ff:ff:ff:ff:ff"});
    if !with_addrs {
        l["linkmode"] = json!("DEFAULT");
    }
    if with_addrs {
        let mut info: Vec<Value> = nic.addrs.iter().map(|(ip, len)| match ip {
            IpAddr::V4(v4) => json!({"family": "inet", "local": v4.to_string(), "prefixlen": len,
                "broadcast": broadcast(*v4, *len).to_string(), "scope": "global", "label": nic.name,
                "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64}),
            IpAddr::V6(v6) => json!({"family": "inet6", "local": v6.to_string(), "prefixlen": len, "scope": "global",
                "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64}),
        }).collect();
        info.push(json!({"family": "inet6", "local": link_local(&nic.mac), "prefixlen": 64, "scope": "link",
            "valid_life_time": 4294967295u64, "preferred_life_time": 4294967295u64}));
        l["addr_info"] = Value::Array(info);
    }
    l
}

fn broadcast(ip: std::net::Ipv4Addr, len: u8) -> std::net::Ipv4Addr {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    };
    std::net::Ipv4Addr::from(u32::from(ip) | !mask)
}

/// The EUI-64 link-local address the kernel derives from a MAC.
pub fn link_local(mac: &str) -> String {
    let b: Vec<u8> = mac
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    if b.len() != 6 {
        return "fe80::1".into();
    }
    let groups = [
        ((b[0] ^ 2) as u16) << 8 | b[1] as u16,
        (b[2] as u16) << 8 | 0xff,
        0xfe00 | b[3] as u16,
        (b[4] as u16) << 8 | b[5] as u16,
    ];
    let ip = std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, groups[0], groups[1], groups[2], groups[3]);
    ip.to_string()
}

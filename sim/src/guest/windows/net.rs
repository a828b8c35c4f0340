//! Get-NetAdapter, Get-NetIPAddress (the NetAdapter and NetTCPIP CDXML modules, which report
//! misses as CmdletizationQuery_NotFound) and Test-Connection (Win32_PingStatus based, 5.1).

use super::bind::{strings, switch, value, Bound, Cmdlet};
use super::errors::PsError;
use super::session::{obj, Session, Written};
use super::value::V;
use crate::guest::echoes::{self, Echo};
use crate::guest::lock;

pub const ADAPTER: Cmdlet = Cmdlet {
    name: "Get-NetAdapter",
    class: "GetNetAdapter",
    params: &[
        value("Name", "System.String[]", Some(0)),
        switch("IncludeHidden"),
        switch("Physical"),
    ],
};

pub const ADDRESS: Cmdlet = Cmdlet {
    name: "Get-NetIPAddress",
    class: "GetNetIPAddress",
    params: &[
        value("IPAddress", "System.String[]", Some(0)),
        value("InterfaceAlias", "System.String[]", None),
        value("InterfaceIndex", "System.UInt32[]", None),
        value("AddressFamily", "AddressFamily[]", None),
    ],
};

pub const TEST: Cmdlet = Cmdlet {
    name: "Test-Connection",
    class: "TestConnectionCommand",
    params: &[
        value("ComputerName", "System.String[]", Some(0)),
        value("Count", "System.Int32", None),
        value("BufferSize", "System.Int32", None),
        value("Delay", "System.Int32", None),
        switch("Quiet"),
    ],
};

/// Windows numbers adapters from here on; loopback is 1.
const FIRST_IF_INDEX: i64 = 6;
const LOOPBACK: &str = "Loopback Pseudo-Interface 1";

/// A CDXML cmdlet's "no such object" (an error per value asked for and not found).
fn cdxml_miss(cmdlet: &str, class: &str, property: &str, value: &str) -> PsError {
    PsError {
        command: cmdlet.into(),
        message: format!("No {class} objects found with property '{property}' equal to '{value}'.  Verify the value of the property and retry."),
        category: format!("ObjectNotFound: ({value}:String) [{cmdlet}], CimJobException"),
        id: format!("CmdletizationQuery_NotFound_{property},{cmdlet}"),
        at: Default::default(),
        aborts_script: false,
    }
}

pub fn adapters(s: &mut Session, b: &Bound, _input: Vec<V>) -> Result<Written, PsError> {
    let g = lock(s.guest);
    let all: Vec<V> = g
        .nics
        .iter()
        .enumerate()
        .map(|(i, nic)| {
            obj(&[
                ("Name", V::Str(nic.name.clone())),
                (
                    "InterfaceDescription",
                    V::Str(match i {
                        0 => "Red Hat VirtIO Ethernet Adapter".into(),
                        n => format!("Red Hat VirtIO Ethernet Adapter #{}", n + 1),
                    }),
                ),
                ("ifIndex", V::Int(FIRST_IF_INDEX + i as i64)),
                (
                    "Status",
                    V::Str(if nic.up { "Up" } else { "Disconnected" }.into()),
                ),
                (
                    "MacAddress",
                    V::Str(nic.mac.replace(':', "-").to_uppercase()),
                ),
                ("LinkSpeed", V::Str("10 Gbps".into())),
            ])
        })
        .collect();
    Ok(filtered(all, b.get("Name"), "Name", |v| {
        cdxml_miss(ADAPTER.name, "MSFT_NetAdapter", "Name", v)
    }))
}

/// `items` whose `property` equals one of `wanted` (case-insensitive), an error per miss.
fn filtered(
    items: Vec<V>,
    wanted: Option<&V>,
    property: &str,
    miss: impl Fn(&str) -> PsError,
) -> Written {
    let Some(wanted) = wanted else {
        return Written::items(items);
    };
    let mut out = Written::default();
    for want in strings(wanted) {
        let found: Vec<V> = items
            .iter()
            .filter(|i| {
                i.prop(property)
                    .is_some_and(|(_, v)| v.text().eq_ignore_ascii_case(&want))
            })
            .cloned()
            .collect();
        if found.is_empty() {
            out.errors.push(miss(&want));
        }
        out.items.extend(found);
    }
    out
}

pub fn addresses(s: &mut Session, b: &Bound, _input: Vec<V>) -> Result<Written, PsError> {
    let g = lock(s.guest);
    let mut rows: Vec<(String, i64, std::net::IpAddr, u8)> = Vec::new();
    for (i, nic) in g.nics.iter().enumerate() {
        for (ip, len) in &nic.addrs {
            rows.push((nic.name.clone(), FIRST_IF_INDEX + i as i64, *ip, *len));
        }
    }
    rows.push((
        LOOPBACK.into(),
        1,
        "::1".parse().expect("IPv6 loopback"),
        128,
    ));
    rows.push((
        LOOPBACK.into(),
        1,
        "127.0.0.1".parse().expect("IPv4 loopback"),
        8,
    ));
    let family = b.get("AddressFamily").map(|v| v.text().to_lowercase());
    let all: Vec<V> = rows
        .into_iter()
        .filter(|(_, _, ip, _)| match family.as_deref() {
            Some("ipv4") => ip.is_ipv4(),
            Some("ipv6") => ip.is_ipv6(),
            _ => true,
        })
        .map(|(alias, index, ip, len)| {
            // Link-local IPv6 addresses carry their zone, the interface index.
            let shown = match ip {
                std::net::IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
                    format!("{ip}%{index}")
                }
                _ => ip.to_string(),
            };
            obj(&[
                ("IPAddress", V::Str(shown)),
                ("InterfaceIndex", V::Int(index)),
                ("InterfaceAlias", V::Str(alias)),
                ("AddressFamily", V::Int(if ip.is_ipv4() { 2 } else { 23 })),
                ("PrefixLength", V::Int(len.into())),
            ])
        })
        .collect();
    let by_alias = filtered(all, b.get("InterfaceAlias"), "InterfaceAlias", |v| {
        cdxml_miss(ADDRESS.name, "MSFT_NetIPAddress", "InterfaceAlias", v)
    });
    if by_alias.errors.is_empty() {
        let items = by_alias.items;
        return Ok(filtered(items, b.get("IPAddress"), "IPAddress", |v| {
            cdxml_miss(ADDRESS.name, "MSFT_NetIPAddress", "IPAddress", v)
        }));
    }
    Ok(by_alias)
}

/// Test-Connection (5.1, Win32_PingStatus based): `-Count` echoes (default 4) `-Delay`
/// seconds apart (default 1) per target, each answered according to the network when it
/// leaves (guest/echoes.rs). `-Quiet` answers whether any was answered; otherwise each
/// answered echo is a Win32_PingStatus (StatusCode 0) and each unanswered one an error
/// (the shape of a partly answered run is written from documentation, not captured).
pub fn test(s: &mut Session, b: &Bound, _input: Vec<V>) -> Result<Written, PsError> {
    let targets = b.get("ComputerName").map(strings).unwrap_or_default();
    let quiet = b.flag("Quiet");
    let count = at_least_one(b, "Count")?.unwrap_or(4);
    let delay = at_least_one(b, "Delay")?.unwrap_or(1);
    let mut out = Written::default();
    for target in targets {
        let met = match target.parse() {
            Ok(dst) => echoes::send(s.guest, s.net, dst, None, count as u32, delay as f64),
            Err(_) => vec![Echo::Lost; count as usize],
        };
        let answered = met.iter().filter(|e| **e == Echo::Answered).count();
        if quiet {
            out.items.push(V::Bool(answered > 0));
            continue;
        }
        for echo in met {
            match echo {
                Echo::Answered => out.items.push(obj(&[
                    ("Source", V::Str(lock(s.guest).hostname.to_uppercase())),
                    ("Destination", V::Str(target.clone())),
                    ("IPV4Address", V::Str(target.clone())),
                    ("ResponseTime", V::Int(1)),
                    ("StatusCode", V::Int(0)),
                ])),
                _ => out.errors.push(PsError {
                    command: TEST.name.into(),
                    message: format!("Testing connection to computer '{target}' failed: Error due to lack of resources"),
                    category: format!("ResourceUnavailable: ({target}:String) [Test-Connection], PingException"),
                    id: "TestConnectionException,Microsoft.PowerShell.Commands.TestConnectionCommand".into(),
                    at: Default::default(),
                    aborts_script: false,
                }),
            }
        }
    }
    Ok(out)
}

/// An Int32 parameter validated as `[ValidateRange(1, int.MaxValue)]` (Count, Delay).
fn at_least_one(b: &Bound, name: &str) -> Result<Option<i64>, PsError> {
    let Some(given) = b.get(name) else {
        return Ok(None);
    };
    let at = b.span(name);
    let values = super::bind::ints(&TEST, name, given, at)?;
    if values.iter().any(|c| *c < 1) {
        return Err(PsError::binding(TEST.name, TEST.class, format!("Cannot validate argument on parameter '{name}'. The {} argument is less than the minimum allowed range of 1. Supply an argument that is greater than or equal to 1 and then try the command again.", given.text()), "ParameterArgumentValidationError", at));
    }
    Ok(values.first().copied())
}

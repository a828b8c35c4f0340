//! iproute2's text shapes for a link (iproute2 ip/ipaddress.c print_linkinfo and
//! print_addrinfo, long and `-brief`), from the JSON model of iproute.rs.

use serde_json::Value;

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn flags(l: &Value) -> String {
    let flags: Vec<&str> = l["flags"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    flags.join(",")
}

/// `ip link` / `ip addr`:
/// `2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000`.
pub fn long(l: &Value) -> String {
    let mode = match l.get("linkmode") {
        Some(m) => format!("mode {} ", text(m)),
        None => String::new(),
    };
    let mut s = format!(
        "{}: {}: <{}> mtu {} qdisc {} state {} {mode}group {} qlen {}\n    link/{} {} brd {}\n",
        l["ifindex"],
        text(&l["ifname"]),
        flags(l),
        l["mtu"],
        text(&l["qdisc"]),
        text(&l["operstate"]),
        text(&l["group"]),
        l["txqlen"],
        text(&l["link_type"]),
        text(&l["address"]),
        text(&l["broadcast"])
    );
    for a in l["addr_info"].as_array().into_iter().flatten() {
        let brd = a
            .get("broadcast")
            .map(|b| format!(" brd {}", text(b)))
            .unwrap_or_default();
        let label = a
            .get("label")
            .map(|b| format!(" {}", text(b)))
            .unwrap_or_default();
        s.push_str(&format!(
            "    {} {}/{}{brd} scope {}{label}\n       valid_lft forever preferred_lft forever\n",
            text(&a["family"]),
            text(&a["local"]),
            a["prefixlen"],
            text(&a["scope"])
        ));
    }
    s
}

/// `ip -br link`: `eth0             UP             52:54:00:12:34:56 <BROADCAST,MULTICAST,UP,LOWER_UP> `;
/// `ip -br addr`: `eth0             UP             10.0.2.2/24 fe80::…/64 `.
pub fn brief(l: &Value, with_addrs: bool) -> String {
    let mut s = format!("{:<16} {:<14} ", text(&l["ifname"]), text(&l["operstate"]));
    if with_addrs {
        for a in l["addr_info"].as_array().into_iter().flatten() {
            s.push_str(&format!("{}/{} ", text(&a["local"]), a["prefixlen"]));
        }
    } else {
        s.push_str(&format!("{} <{}> ", text(&l["address"]), flags(l)));
    }
    s.push('\n');
    s
}

//! Which proxy, if any, carries the connection to the API server: the choice kubectl makes,
//! so a kubeconfig that works with `oc`/`kubectl` behind a corporate proxy works here too.
//!
//! client-go (kubernetes/staging/src/k8s.io/client-go/tools/clientcmd/client_config.go,
//! `DirectClientConfig.ClientConfig`) uses the cluster's `proxy-url` for every request when the
//! kubeconfig has one; otherwise (client-go/transport/cache.go, `tlsTransportCache.get`, with
//! apimachinery pkg/util/net/http.go `SetOldTransportDefaults`/`NewProxierWithNoProxyCIDR`)
//! it falls back to Go's `http.ProxyFromEnvironment` (golang.org/x/net/http/httpproxy/proxy.go,
//! `config.proxyForURL` and `useProxy`) with CIDRs allowed in `NO_PROXY`: `HTTPS_PROXY` for
//! https servers, `HTTP_PROXY` for http ones, never for `localhost` or a loopback address,
//! and not for a server `NO_PROXY` covers.
//!
//! kube-rs 5.0 (kube-client/src/config/file_loader.rs, `ConfigLoader::proxy_url`) differs: it
//! matches `NO_PROXY` against the proxy's own address rather than the server's, applies it to
//! a kubeconfig's `proxy-url` as well, and proxies loopback servers. [`proxy_for`] makes
//! kubectl's choice, and the target overrides kube-rs's with it.

use std::net::IpAddr;

use anyhow::Context as _;
use http::Uri;

/// The proxy for requests to `server`: the kubeconfig's `proxy-url` when it has one, else
/// the one the environment (`env`, e.g. `std::env::var`) names for the server's scheme.
pub fn proxy_for(
    server: &Uri,
    kubeconfig_proxy: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Uri>> {
    if let Some(url) = kubeconfig_proxy.filter(|u| !u.is_empty()) {
        return parse(url, "the kubeconfig's proxy-url").map(Some);
    }
    let var = |upper: &str| {
        env(upper)
            .or_else(|| env(&upper.to_ascii_lowercase()))
            .filter(|v| !v.is_empty())
    };
    let (name, proxy) = match server.scheme_str() {
        Some("http") => ("HTTP_PROXY", var("HTTP_PROXY")),
        _ => ("HTTPS_PROXY", var("HTTPS_PROXY")),
    };
    let Some(proxy) = proxy else { return Ok(None) };
    let host = server.host().unwrap_or("").trim_matches(['[', ']']);
    if host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return Ok(None);
    }
    let port = server
        .port_u16()
        .unwrap_or(if server.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    let bypassed = var("NO_PROXY").is_some_and(|list| no_proxy_covers(&list, host, port));
    if bypassed {
        return Ok(None);
    }
    parse(&proxy, name).map(Some)
}

/// A proxy URL; a bare `host:port` means an http proxy, as Go reads it.
fn parse(url: &str, from: &str) -> anyhow::Result<Uri> {
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    url.parse::<Uri>()
        .with_context(|| format!("{from} `{url}` is not a URL; write it as http://HOST:PORT"))
}

/// Whether `NO_PROXY` (comma-separated: `*`, IP addresses, CIDRs, `domain`, `.domain`, each
/// with an optional `:port`) covers `host:port`, by Go's rules: `example.com` covers it and
/// its subdomains, `.example.com` the subdomains only. An entry Go would ignore is ignored.
pub fn no_proxy_covers(list: &str, host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    list.split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some((net, bits)) = entry.split_once('/') {
                return ip.is_some_and(|ip| in_cidr(ip, net, bits));
            }
            if let (Ok(listed), Some(ip)) = (entry.parse::<IpAddr>(), ip) {
                return listed == ip;
            }
            let (name, listed_port) = split_port(&entry);
            if listed_port.is_some_and(|p| p != port) {
                return false;
            }
            match name.strip_prefix("*.").or(name.strip_prefix('.')) {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => host == name || host.ends_with(&format!(".{name}")),
            }
        })
}

fn split_port(entry: &str) -> (&str, Option<u16>) {
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => match port.parse() {
            Ok(p) => (name, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry.trim_matches(['[', ']']), None),
    }
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn chosen(server: &str, kubeconfig: Option<&str>, vars: &'static [(&str, &str)]) -> String {
        let server: Uri = server.parse().unwrap();
        match proxy_for(&server, kubeconfig, env(vars)).unwrap() {
            Some(uri) => uri.to_string(),
            None => "direct".into(),
        }
    }

    const PROXIED: &[(&str, &str)] = &[("HTTPS_PROXY", "http://proxy.corp:3128")];

    #[test]
    fn the_kubeconfigs_proxy_url_wins_and_ignores_no_proxy() {
        let all = &[("HTTPS_PROXY", "http://env:1"), ("NO_PROXY", "*")];
        let by_file = chosen("https://127.0.0.1:6443", Some("http://file:2"), all);
        assert_eq!(by_file, "http://file:2/");
    }

    #[test]
    fn no_proxy_is_matched_against_the_server_not_the_proxy() {
        let server = "https://api.ocp.example.com:6443";
        assert_eq!(chosen(server, None, PROXIED), "http://proxy.corp:3128/");
        const BY_DOMAIN: &[(&str, &str)] = &[
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("no_proxy", ".example.com"),
        ];
        assert_eq!(chosen(server, None, BY_DOMAIN), "direct");
        // kube-rs 5.0 would compare `proxy.corp` with NO_PROXY and bypass nothing here.
        const BY_PROXY_NAME: &[(&str, &str)] = &[
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("NO_PROXY", "proxy.corp"),
        ];
        assert_eq!(
            chosen(server, None, BY_PROXY_NAME),
            "http://proxy.corp:3128/"
        );
    }

    #[test]
    fn loopback_servers_are_never_proxied_from_the_environment() {
        assert_eq!(chosen("https://127.0.0.1:6443", None, PROXIED), "direct");
        assert_eq!(chosen("https://[::1]:6443", None, PROXIED), "direct");
        assert_eq!(chosen("https://localhost:6443", None, PROXIED), "direct");
        assert_eq!(chosen("https://10.0.0.5:6443", None, &[]), "direct");
    }

    #[test]
    fn http_servers_use_http_proxy_and_bare_addresses_are_http() {
        const BOTH: &[(&str, &str)] = &[("HTTPS_PROXY", "s:1"), ("HTTP_PROXY", "p:2")];
        assert_eq!(chosen("http://10.0.0.5:8080", None, BOTH), "http://p:2/");
        assert_eq!(chosen("https://10.0.0.5:6443", None, BOTH), "http://s:1/");
    }

    #[test]
    fn no_proxy_entries_read_as_go_reads_them() {
        assert!(no_proxy_covers("10.0.0.0/8", "10.1.2.3", 443));
        assert!(!no_proxy_covers("10.0.0.0/8", "11.1.2.3", 443));
        assert!(no_proxy_covers("fd00::/8", "fd00::1", 443));
        assert!(no_proxy_covers(" example.com ", "api.example.com", 443));
        assert!(no_proxy_covers("example.com", "example.com", 443));
        assert!(!no_proxy_covers(".example.com", "example.com", 443));
        assert!(no_proxy_covers("*.example.com", "a.example.com", 443));
        assert!(!no_proxy_covers("notexample.com", "example.com", 443));
        assert!(no_proxy_covers(
            "api.example.com:6443",
            "api.example.com",
            6443
        ));
        assert!(!no_proxy_covers(
            "api.example.com:443",
            "api.example.com",
            6443
        ));
        assert!(no_proxy_covers("192.168.1.1", "192.168.1.1", 6443));
        assert!(no_proxy_covers("*", "anything", 1));
    }

    #[test]
    fn an_unreadable_proxy_url_says_where_it_came_from() {
        let server: Uri = "https://10.0.0.5:6443".parse().unwrap();
        let e = proxy_for(&server, Some("http://bad host:1"), env(&[])).unwrap_err();
        assert!(
            format!("{e:#}").contains("the kubeconfig's proxy-url"),
            "{e:#}"
        );
    }
}

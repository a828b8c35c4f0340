//! Kubeconfigs as people have them, against the simulator reached as a cluster: a proxy named
//! by the kubeconfig or the environment carries the connection (a small CONNECT proxy here
//! counts the tunnels), `NO_PROXY` covering the server bypasses it, and a token the API server
//! refuses is reported at once, asked once. A throttled call is asked once, its 429 left to
//! vstp's own retries.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod support;
use support::SimCluster;

/// The host name the proxy alone can resolve: only a tunnel reaches a server named so.
const PROXY_ONLY_HOST: &str = "api.cluster.vstp.test";

/// An HTTP CONNECT proxy on `address`, recording each tunnel's target; it resolves
/// [`PROXY_ONLY_HOST`] to the simulator.
struct ConnectProxy {
    url: String,
    tunnels: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start(sim: &SimCluster, address: &str) -> ConnectProxy {
        let listener = sim
            .runtime
            .block_on(tokio::net::TcpListener::bind((address, 0)))
            .expect("the proxy listens");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = tunnels.clone();
        sim.runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(tunnel(client, seen.clone()));
            }
        });
        ConnectProxy { url, tunnels }
    }

    fn tunnels(&self) -> Vec<String> {
        self.tunnels.lock().unwrap().clone()
    }
}

/// Reads `CONNECT host:port HTTP/1.1` and its headers, dials the target and pipes both ways.
async fn tunnel(mut client: tokio::net::TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read_exact(&mut byte).await.is_err() {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let Some(target) = head
        .strip_prefix("CONNECT ")
        .and_then(|r| r.split(' ').next())
    else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            .await;
        return;
    };
    seen.lock().unwrap().push(target.to_string());
    let dial = target.replace(PROXY_ONLY_HOST, "127.0.0.1");
    let Ok(mut upstream) = tokio::net::TcpStream::connect(dial).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    let _ = client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// The simulator's kubeconfig with its server line replaced by `cluster_lines` (server,
/// proxy-url, tls-server-name, each indented as a cluster field) and its token by `token`.
fn kubeconfig(
    sim: &SimCluster,
    name: &str,
    cluster_lines: &[String],
    token: Option<&str>,
) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("server: ") {
            for l in cluster_lines {
                out.push_str(&format!("    {l}\n"));
            }
        } else if let (Some(token), true) = (token, line.trim_start().starts_with("token: ")) {
            out.push_str(&format!("    token: {token}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = sim.path(name);
    std::fs::write(&path, out).unwrap();
    path
}

fn port_of(sim: &SimCluster) -> u16 {
    let text = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap();
    server.rsplit(':').next().unwrap().parse().unwrap()
}

/// `vstp preflight --target cluster` with `kubeconfig`, the proxy variables cleared and then
/// set to `env`.
fn preflight(kubeconfig: &std::path::Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vstp"));
    command
        .args(["preflight", "--target", "cluster", "--kubeconfig"])
        .arg(kubeconfig)
        .env_remove("VSTP_CONFIG");
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().expect("vstp runs")
}

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout)
}

#[test]
fn the_kubeconfigs_proxy_url_carries_every_connection() {
    let sim = SimCluster::start("proxy-url", "", 1);
    let proxy = ConnectProxy::start(&sim, "127.0.0.1");
    let port = port_of(&sim);
    let lines = [
        format!("server: https://127.0.0.1:{port}"),
        format!("proxy-url: {}", proxy.url),
    ];
    let out = preflight(&kubeconfig(&sim, "by-file", &lines, None), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let tunnels = proxy.tunnels();
    assert!(
        !tunnels.is_empty(),
        "nothing went through the proxy: {}",
        said(&out)
    );
    assert!(
        tunnels.iter().all(|t| *t == format!("127.0.0.1:{port}")),
        "{tunnels:?}"
    );
}

#[test]
fn https_proxy_carries_the_connection_unless_no_proxy_covers_the_server() {
    let sim = SimCluster::start("https-proxy", "", 2);
    // On 127.0.0.2: NO_PROXY naming the proxy's address must not be what decides.
    let proxy = ConnectProxy::start(&sim, "127.0.0.2");
    let port = port_of(&sim);
    let named = [
        format!("server: https://{PROXY_ONLY_HOST}:{port}"),
        "tls-server-name: localhost".to_string(),
    ];
    let file = kubeconfig(&sim, "by-env", &named, None);
    // NO_PROXY naming the proxy's own address does not cover the server.
    let out = preflight(
        &file,
        &[("HTTPS_PROXY", &proxy.url), ("NO_PROXY", "127.0.0.2")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let through = proxy.tunnels().len();
    assert!(through > 0, "HTTPS_PROXY was not used: {}", said(&out));
    assert!(proxy
        .tunnels()
        .iter()
        .all(|t| *t == format!("{PROXY_ONLY_HOST}:{port}")));

    // The server is only reachable through the proxy, so bypassing it fails to connect.
    let out = preflight(
        &file,
        &[("HTTPS_PROXY", &proxy.url), ("NO_PROXY", ".vstp.test")],
    );
    assert_eq!(
        proxy.tunnels().len(),
        through,
        "NO_PROXY covers the server: no tunnel"
    );
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));

    let by_address = [format!("server: https://127.0.0.1:{port}")];
    let file = kubeconfig(&sim, "by-address", &by_address, None);
    let out = preflight(
        &file,
        &[("HTTPS_PROXY", &proxy.url), ("NO_PROXY", "127.0.0.1")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert_eq!(
        proxy.tunnels().len(),
        through,
        "a server NO_PROXY covers is reached directly"
    );
}

#[test]
fn a_refused_token_is_reported_at_once_and_asked_once() {
    let sim = SimCluster::start("expired-token", "", 3);
    let port = port_of(&sim);
    let lines = [format!("server: https://127.0.0.1:{port}")];
    let file = kubeconfig(&sim, "expired", &lines, Some("sha256~expired"));
    let out = preflight(&file, &[]);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("refused the kubeconfig's credentials (401 Unauthorized)"),
        "{text}"
    );
    assert!(text.contains("log in again"), "{text}");
    let refused = sim.telemetry().unauthenticated_requests();
    assert_eq!(
        refused.len(),
        1,
        "the refused token was asked again: {:?}",
        refused.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}

/// A kubeconfig whose user is an exec credential plugin (as `oc login` with an SSO helper,
/// or a cloud's token command, writes them) printing `token`.
fn with_exec_plugin(sim: &SimCluster, name: &str, token: &str) -> std::path::PathBuf {
    let plugin = sim.path(&format!("{name}-plugin.sh"));
    let credential = format!(
        r#"{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"{token}"}}}}"#
    );
    std::fs::write(&plugin, format!("#!/bin/sh\necho '{credential}'\n")).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&plugin, mode).unwrap();
    let text = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    let exec = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n",
        plugin.display()
    );
    let text: String = text
        .lines()
        .map(|l| match l.trim_start().starts_with("token: ") {
            true => exec.clone(),
            false => format!("{l}\n"),
        })
        .collect();
    let path = sim.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn an_exec_plugins_token_is_used_and_a_refused_one_said_so() {
    let sim = SimCluster::start("exec-plugin", "", 4);
    let token = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    let token = token
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .unwrap();
    let out = preflight(&with_exec_plugin(&sim, "good", token), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let out = preflight(&with_exec_plugin(&sim, "stale", "sha256~stale"), &[]);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("refused the kubeconfig's credentials"),
        "{text}"
    );
}

/// Only vstp retries: kube-rs's own retry of 429/503/504 inside each call (15 more attempts
/// over minutes, unseen) is off, so each call is one request and a throttled one comes back to
/// the caller as its 429, for `retry` to judge.
#[test]
fn a_throttled_call_is_asked_once_and_its_429_returned() {
    // 9 requests in 10 throttled: of three calls, at least two are.
    let sim = SimCluster::start("throttled", "api-throttle=0.9", 5);
    const CALLS: usize = 3;
    let answers = sim.runtime.block_on(async {
        let client = vstp::cluster::kubeconfig::cluster_client(Some(&sim.kubeconfig), None)
            .await
            .expect("a client");
        let api = vstp::cluster::kinds::NAMESPACE.api(&client, "");
        let mut answers = Vec::new();
        for _ in 0..CALLS {
            answers.push(api.get("default").await.map(drop));
        }
        answers
    });
    let throttled = answers
        .iter()
        .filter(|a| matches!(a, Err(kube::Error::Api(s)) if s.code == 429))
        .count();
    assert!(throttled >= 2, "{answers:?}");
    let asked = sim
        .telemetry()
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/namespaces/default"))
        .count();
    assert_eq!(asked, CALLS, "{answers:?}");
}

//! The guest dialects: the harness's parsers read the captured (Linux) and documented
//! (Windows) outputs in `fixtures/guest/`, and the simulator's guests answer the same commands
//! in shapes those parsers read identically: same lines, same fields, only values differ.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{json, Value};
use vstp::cluster::{Target, TargetKind, TargetOptions};
use vstp::guest::access::Guest;
use vstp::guest::os::GuestOs;
use vstp::guest::ssh::{Login, Session};
use vstp::guest::{linux, windows, Output};

fn fixture(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/guest")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn output(dir_and_stem: &str) -> Output {
    Output {
        stdout: String::new(),
        stderr: fixture(&format!("{dir_and_stem}_stderr.txt")),
        code: fixture(&format!("{dir_and_stem}_rc.txt"))
            .trim()
            .parse()
            .unwrap(),
    }
}

/// The shape of a text: every address becomes `IP`, every number or hex id `9`, every run of
/// blanks one space, and blanks that start a line (right-aligned columns) go. Two answers with
/// the same skeleton parse alike.
fn skeleton(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| line_skeleton(line.trim_start_matches([' ', '\t'])))
        .collect()
}

fn line_skeleton(text: &str) -> String {
    let is_addr_char = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.';
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let run: String = rest.chars().take_while(|c| is_addr_char(*c)).collect();
        if !run.is_empty() {
            let trimmed = run.trim_end_matches([':', '.']);
            if trimmed.parse::<IpAddr>().is_ok() && trimmed.contains(['.', ':']) {
                out.push_str("IP");
                rest = &rest[trimmed.len()..];
                continue;
            }
        }
        let hex_with_digit = run.len() > 1
            && run.chars().all(|c| c.is_ascii_hexdigit())
            && run.contains(|c: char| c.is_ascii_digit());
        if hex_with_digit {
            out.push('9');
            rest = &rest[run.len()..];
        } else if c.is_ascii_digit() {
            out.push('9');
            rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        } else if c == ' ' || c == '\t' {
            out.push(' ');
            rest = rest.trim_start_matches([' ', '\t']);
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[test]
fn skeletons_hide_values_but_keep_the_layout() {
    assert_eq!(
        skeleton("64 bytes from 10.0.2.2: icmp_seq=1 time=0.187 ms"),
        "9 bytes from IP: icmp_seq=9 time=9.9 ms"
    );
    assert_eq!(
        skeleton("PING ::1(::1) 56 data bytes"),
        "PING IP(IP) 9 data bytes"
    );
    assert_ne!(skeleton("Mem:  1  2"), skeleton("Mem:  1  2  3"));
    assert_eq!(
        skeleton("ceb4d1e6-e1fd-406f bytes"),
        "9-9-9 bytes",
        "hex runs with digits are values"
    );
}

// ---- the captured Linux outputs parse to what they say ----

#[test]
fn linux_fixtures_parse() {
    assert_eq!(
        linux::boot_id(&fixture("linux/boot_id.txt")).unwrap(),
        "ceb4d1e6-e1fd-406f-96e5-467ab60f9cb3"
    );
    assert_eq!(
        linux::uptime(&fixture("linux/proc_uptime.txt")).unwrap(),
        6142.29
    );
    assert_eq!(
        linux::boot_time(&fixture("linux/proc_stat_btime.txt")).unwrap(),
        1795325685
    );
    assert_eq!(linux::nproc(&fixture("linux/nproc.txt")).unwrap(), 2);
    assert_eq!(
        linux::free_total(&fixture("linux/free_b.txt")).unwrap(),
        25276063744
    );
    assert_eq!(
        linux::meminfo_total(&fixture("linux/meminfo_memtotal.txt")).unwrap(),
        24683656 * 1024
    );
    assert_eq!(
        linux::lsmem_online(&fixture("linux/lsmem_total_online.txt")).unwrap(),
        24 << 30
    );
    let links = linux::interfaces(&fixture("linux/ip_j_link.json")).unwrap();
    let eth0 = links.iter().find(|l| l.name == "eth0").unwrap();
    assert!(
        eth0.up && eth0.mac.len() == 17 && eth0.addresses.is_empty(),
        "{eth0:?}"
    );
    let addrs = linux::interfaces(&fixture("linux/ip_j_addr.json")).unwrap();
    let lo = addrs.iter().find(|l| l.name == "lo").unwrap();
    assert_eq!(
        lo.addresses,
        vec![
            ("127.0.0.1".parse().unwrap(), 8),
            ("::1".parse().unwrap(), 128)
        ]
    );
    let ok = linux::ping_summary(&fixture("linux/ping_ok.txt")).unwrap();
    assert_eq!((ok.transmitted, ok.received, ok.errors), (3, 3, 0));
    let six = linux::ping_summary(&fixture("linux/ping6_ok.txt")).unwrap();
    assert_eq!((six.transmitted, six.received), (2, 2));
    let lost = linux::ping_summary(&fixture("linux/ping_lost.txt")).unwrap();
    assert_eq!((lost.transmitted, lost.received, lost.errors), (2, 0, 2));
    let window = linux::ping_summary(&fixture("linux/ping_window_partial.txt")).unwrap();
    assert_eq!((window.transmitted, window.received), (10, 3));
    assert_eq!(linux::pid(&fixture("linux/bg_pid.txt")).unwrap(), 15223);
    assert_eq!(
        linux::pids(&fixture("linux/pgrep_f.txt")).unwrap(),
        vec![15251]
    );
    let alive = Output {
        stdout: fixture("linux/ps_p.txt"),
        ..Output::default()
    };
    assert_eq!(
        linux::process(&alive).unwrap().map(|p| (p.pid, p.name)),
        Some((15251, "sleep".into()))
    );
    let gone = Output {
        stdout: fixture("linux/ps_missing.txt"),
        code: 1,
        ..Output::default()
    };
    assert_eq!(linux::process(&gone).unwrap(), None);
    assert!(!linux::exists(&output("linux/kill0_missing")).unwrap());
    assert!(linux::is_not_found(&output("linux/not_found")));
    let connections = linux::established(&fixture("linux/ss_htn_established.txt")).unwrap();
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[0].1, "127.0.0.1:5901".parse().unwrap());
    let refused = Output {
        stderr: fixture("linux/tcp_probe_refused_stderr.txt"),
        code: fixture("linux/tcp_probe_refused_rc.txt")
            .trim()
            .parse()
            .unwrap(),
        ..Output::default()
    };
    assert!(!linux::accepted(&refused).unwrap());
    // Over a serial console, stderr arrives on the one stream the terminal has.
    let on_console = Output {
        stdout: refused.stderr.clone(),
        code: refused.code,
        ..Output::default()
    };
    assert!(!linux::accepted(&on_console).unwrap());
    let ok = Output {
        code: fixture("linux/tcp_probe_ok_rc.txt").trim().parse().unwrap(),
        ..Output::default()
    };
    assert!(linux::accepted(&ok).unwrap());
}

#[test]
fn linux_parsers_refuse_what_is_not_the_real_format() {
    let free = fixture("linux/free_b.txt");
    let without_swap: String = free.lines().take(2).map(|l| format!("{l}\n")).collect();
    assert!(linux::free_total(&without_swap).is_err());
    assert!(linux::boot_id("ceb4d1e6e1fd406f96e5467ab60f9cb3\n").is_err());
    assert!(linux::uptime("6142.29\n").is_err());
    assert!(linux::ping_summary("3 packets sent\n").is_err());
    let err = linux::meminfo_total("MemTotal: 12 MB\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read MemTotal from the guest's answer \"MemTotal: 12 MB\\n\""
    );
    let odd = Output {
        code: 2,
        stderr: "kill: usage".into(),
        ..Output::default()
    };
    assert!(linux::exists(&odd).is_err());
}

// ---- the documented Windows shapes parse to what they say ----

#[test]
fn windows_fixtures_parse() {
    assert_eq!(windows::nproc(&fixture("windows/nproc.txt")).unwrap(), 4);
    assert_eq!(
        windows::total_memory(&fixture("windows/total_physical_memory.txt")).unwrap(),
        8589463552
    );
    let boot = windows::last_boot(&fixture("windows/last_boot_utc.txt")).unwrap();
    assert_eq!(boot.to_rfc3339(), "2026-11-20T08:14:03.499254600+00:00");
    let clock = windows::clock(&fixture("windows/local_date_time_utc.txt")).unwrap();
    assert_eq!(clock.to_rfc3339(), "2026-11-20T09:02:41.118773+00:00");
    let processes = windows::processes(&fixture("windows/processes.json")).unwrap();
    assert_eq!(
        processes.last().map(|p| (p.pid, p.name.as_str())),
        Some((5128, "PING"))
    );
    let nics = windows::interfaces(
        &fixture("windows/adapter_single.json"),
        &fixture("windows/addresses.json"),
    )
    .unwrap();
    assert_eq!(nics.len(), 1);
    assert_eq!(
        (nics[0].mac.as_str(), nics[0].up),
        ("02:7c:3a:00:00:01", true)
    );
    assert_eq!(
        nics[0].addresses,
        vec![
            ("fe80::7c:3aff:fe00:1".parse().unwrap(), 64),
            ("10.0.2.2".parse().unwrap(), 24)
        ]
    );
    assert!(windows::answered(&fixture("windows/test_connection_true.txt")).unwrap());
    assert!(!windows::answered(&fixture("windows/test_connection_false.txt")).unwrap());
    let codes = |file: &str| windows::echoes_answered(&fixture(file)).unwrap();
    assert_eq!(codes("windows/test_connection_codes.json"), 2);
    assert_eq!(codes("windows/test_connection_code_single.json"), 1);
    assert_eq!(
        windows::echoes_answered("").unwrap(),
        0,
        "an empty pipeline"
    );
    assert!(windows::echoes_answered("True\r\n").is_err());
    assert_eq!(
        windows::created(&fixture("windows/create_process.json")).unwrap(),
        Ok(5128)
    );
    assert_eq!(
        windows::created(&fixture("windows/create_process_missing.json")).unwrap(),
        Err(9),
        "Path Not Found"
    );
    let code: i32 = fixture("windows/error_rc.txt").trim().parse().unwrap();
    let missing = Output {
        stderr: fixture("windows/get_process_missing_stderr.txt"),
        code,
        ..Output::default()
    };
    assert!(!windows::exists(&missing).unwrap());
    let unknown = Output {
        stderr: fixture("windows/not_recognized_stderr.txt"),
        code,
        ..Output::default()
    };
    assert!(windows::is_not_found(&unknown));
    assert!(
        windows::last_boot("2026-11-20T08:14:03Z\r\n").is_err(),
        "not the round-trip format"
    );
}

// ---- the simulator's guests answer in the same shapes ----

const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ssh/test_ed25519");
const PUBLIC_KEY: &str = include_str!("../fixtures/ssh/test_ed25519.pub");

fn api(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// A running VM whose guest accepts our key for `user`; `windows` picks the OS the way a
/// template does (the `vm.kubevirt.io/os` annotation).
async fn boot(client: &kube::Client, name: &str, user: &str, windows: bool) {
    let secret: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("{name}-key")}, "stringData": {"key": PUBLIC_KEY}}))
        .unwrap();
    api(client, "", "v1", "Secret", "secrets")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let os = if windows { "windows2k22" } else { "rhel9" };
    let vm: DynamicObject = serde_json::from_value(json!({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
        "metadata": {"name": name},
        "spec": {"runStrategy": "Always", "template": {
            "metadata": {"annotations": {"vm.kubevirt.io/os": os}},
            "spec": {"domain": {"memory": {"guest": "1Gi"}, "devices": {}},
                     "accessCredentials": [{"sshPublicKey": {"source": {"secret": {"secretName": format!("{name}-key")}},
                        "propagationMethod": {"qemuGuestAgent": {"users": [user]}}}}]}}}})).unwrap();
    api(
        client,
        "kubevirt.io",
        "v1",
        "VirtualMachine",
        "virtualmachines",
    )
    .create(&PostParams::default(), &vm)
    .await
    .unwrap();
    let vmis = api(
        client,
        "kubevirt.io",
        "v1",
        "VirtualMachineInstance",
        "virtualmachineinstances",
    );
    let connected = |o: Option<&DynamicObject>| {
        o.and_then(|o| o.data["status"]["conditions"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .any(|c| c["type"] == "AgentConnected" && c["status"] == "True")
    };
    let wait = kube::runtime::wait::await_condition(vmis, name, connected);
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("{name} did not connect its guest agent within 30 s"))
        .unwrap();
}

/// A simulated cluster with one running VM, and an SSH session to its guest as `user`.
async fn logged_in(vm: &str, user: &str, windows: bool) -> (Target, Session) {
    let options = TargetOptions {
        target: TargetKind::Sim,
        kubeconfig: None,
        context: None,
        settings: None,
        sim_faults: None,
        sim_seed: None,
        guests: None,
    };
    let target = Target::connect(&options)
        .await
        .expect("the simulator starts");
    boot(&target.client, vm, user, windows).await;
    let login = Login {
        user: user.into(),
        key: KEY.into(),
        password: None,
        timeout: Duration::from_secs(10),
    };
    let session = first_login(&target.client, vm, &login).await;
    (target, session)
}

/// The first session to `vm`'s guest: sshd starts a while after the agent connects and keys
/// given through the agent land later still, so a login is retried with the harness's
/// backoff (on the simulator's 60× clock) within 30 s.
async fn first_login(client: &kube::Client, vm: &str, login: &Login) -> Session {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match Session::open(client, "default", vm, login).await {
            Ok(session) => return session,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("no login to {vm}: {e}"),
            Err(_) => {}
        }
        let pause = vstp::cluster::retry::backoff(attempt).div_f64(60.0);
        tokio::time::sleep(pause).await;
    }
}

async fn run(s: &Session, command: &str) -> Output {
    s.run(command)
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}

/// Asserts `command`'s answer on the simulator has the fixture's skeleton.
async fn same_shape(s: &Session, command: &str, fixture_file: &str) -> Output {
    let sim = run(s, command).await;
    assert_eq!(
        skeleton(&sim.stdout),
        skeleton(&fixture(fixture_file)),
        "`{command}` on the simulator vs {fixture_file}:\n{}",
        sim.stdout
    );
    sim
}

/// The keys of every object in a JSON document, recursively, sorted: its shape. iproute2's
/// address flags (`nodad`, `dynamic`, `noprefixroute`, …) are keys whose value is `true` and
/// depend on how an address was configured, so they are not part of the shape.
fn json_keys(v: &Value, prefix: &str, into: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter().filter(|(_, v)| **v != Value::Bool(true)) {
                let path = format!("{prefix}.{k}");
                into.insert(path.clone());
                json_keys(v, &path, into);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|i| json_keys(i, &format!("{prefix}[]"), into)),
        _ => {}
    }
}

fn keys_of(v: &Value) -> std::collections::BTreeSet<String> {
    let mut keys = Default::default();
    json_keys(v, "", &mut keys);
    keys
}

/// The ethernet link of an `ip -j` document with the most addresses, as the fixture's `eth0`.
fn ether(doc: &str) -> Value {
    let links: Vec<Value> = serde_json::from_str(doc).unwrap();
    links
        .into_iter()
        .find(|l| l["link_type"] == "ether" && l["operstate"] == "UP")
        .unwrap_or_else(|| panic!("an UP ethernet link in {doc}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_rhel_guest_answers_in_the_captured_shapes() {
    let (_target, s) = logged_in("rhel", "cloud-user", false).await;

    linux::boot_id(
        &same_shape(&s, linux::BOOT_ID, "linux/boot_id.txt")
            .await
            .stdout,
    )
    .unwrap();
    linux::uptime(
        &same_shape(&s, linux::UPTIME, "linux/proc_uptime.txt")
            .await
            .stdout,
    )
    .unwrap();
    linux::boot_time(
        &same_shape(&s, linux::BOOT_TIME, "linux/proc_stat_btime.txt")
            .await
            .stdout,
    )
    .unwrap();
    assert_eq!(
        linux::nproc(&same_shape(&s, linux::NPROC, "linux/nproc.txt").await.stdout).unwrap(),
        1
    );
    let free =
        linux::free_total(&same_shape(&s, linux::FREE, "linux/free_b.txt").await.stdout).unwrap();
    let meminfo = linux::meminfo_total(
        &same_shape(&s, linux::MEMTOTAL, "linux/meminfo_memtotal.txt")
            .await
            .stdout,
    )
    .unwrap();
    let online = linux::lsmem_online(
        &same_shape(&s, linux::LSMEM_ONLINE, "linux/lsmem_total_online.txt")
            .await
            .stdout,
    )
    .unwrap();
    assert_eq!(online, 1 << 30, "lsmem shows the guest memory");
    assert!(
        free == meminfo && free < online,
        "free -b and MemTotal agree, below the DIMMs: {free} {meminfo} {online}"
    );

    for (command, file) in [
        (linux::IP_LINK, "linux/ip_j_link.json"),
        (linux::IP_ADDR, "linux/ip_j_addr.json"),
    ] {
        let sim_doc = run(&s, command).await.stdout;
        let nics = linux::interfaces(&sim_doc).unwrap();
        assert!(
            nics.iter().any(|n| n.name == "lo") && nics.iter().any(|n| n.name == "eth0"),
            "{nics:?}"
        );
        assert_eq!(
            keys_of(&ether(&sim_doc)),
            keys_of(&ether(&fixture(file))),
            "`{command}`: an ethernet link has the captured fields"
        );
    }

    let ok = same_shape(
        &s,
        &linux::ping("10.0.2.2".parse().unwrap(), 3, None),
        "linux/ping_ok.txt",
    )
    .await;
    assert_eq!(linux::ping_summary(&ok.stdout).unwrap().received, 3);
    let six = run(&s, &linux::ping("fd10:0:2::2".parse().unwrap(), 2, None)).await;
    assert_eq!(
        skeleton(&six.stdout),
        skeleton(&fixture("linux/ping6_ok.txt")),
        "{}",
        six.stdout
    );
    // On the guest's own subnet nobody answers neighbour resolution: the kernel reports each
    // probe, like the router in the captured `ping_lost.txt` (there: Net, here: Host).
    let lost = run(&s, &linux::ping("10.0.2.77".parse().unwrap(), 2, None)).await;
    let captured = fixture("linux/ping_lost.txt").replace(
        "Destination Net Unreachable",
        "Destination Host Unreachable",
    );
    let lines = |t: &str| t.lines().skip(1).map(skeleton).collect::<Vec<_>>();
    assert_eq!(lines(&lost.stdout), lines(&captured), "{}", lost.stdout);
    let summary = linux::ping_summary(&lost.stdout).unwrap();
    assert_eq!((lost.code, summary.received, summary.errors), (1, 0, 2));
    // The windowed probe's command, answered and unanswered, in the same shapes.
    let sampled = run(&s, &linux::ping_every("10.0.2.2".parse().unwrap(), 4, 1)).await;
    let counted = linux::ping_summary(&sampled.stdout).unwrap();
    assert_eq!(
        (sampled.code, counted.transmitted, counted.received),
        (0, 4, 4)
    );
    let unanswered = run(&s, &linux::ping_every("10.0.2.77".parse().unwrap(), 3, 1)).await;
    let counted = linux::ping_summary(&unanswered.stdout).unwrap();
    assert_eq!(
        (unanswered.code, counted.transmitted, counted.received),
        (1, 3, 0)
    );
    let silent = run(&s, &linux::ping("203.0.113.77".parse().unwrap(), 2, None)).await;
    assert_eq!(
        linux::ping_summary(&silent.stdout).unwrap(),
        linux::PingSummary {
            transmitted: 2,
            received: 0,
            errors: 0
        }
    );
    let pid = linux::pid(
        &same_shape(
            &s,
            &linux::start_background("sleep 600"),
            "linux/bg_pid.txt",
        )
        .await
        .stdout,
    )
    .unwrap();
    let row = same_shape(&s, &linux::ps(pid), "linux/ps_p.txt").await;
    assert_eq!(
        linux::process(&row).unwrap().map(|p| p.name),
        Some("sleep".into())
    );
    assert_eq!(
        linux::pids(
            &same_shape(&s, "pgrep -f 'sleep 600'", "linux/pgrep_f.txt")
                .await
                .stdout
        )
        .unwrap(),
        vec![pid]
    );
    assert!(linux::exists(&run(&s, &linux::process_exists(pid)).await).unwrap());
    let gone = run(&s, &linux::process_exists(999999)).await;
    assert_eq!(
        (skeleton(&gone.stderr), gone.code),
        (skeleton(&fixture("linux/kill0_missing_stderr.txt")), 1)
    );
    assert!(!linux::exists(&gone).unwrap());
    let no_row = run(&s, &linux::ps(999999)).await;
    assert_eq!(linux::process(&no_row).unwrap(), None);
    // TCP: a listener, a probe, a held connection as ss lists it, a refused probe.
    run(&s, &linux::listen(5901)).await;
    let probe = run(&s, &linux::tcp_probe("127.0.0.1".parse().unwrap(), 5901)).await;
    assert_eq!(
        probe.code.to_string(),
        fixture("linux/tcp_probe_ok_rc.txt").trim()
    );
    assert!(linux::accepted(&probe).unwrap());
    let refused = run(&s, &linux::tcp_probe("127.0.0.1".parse().unwrap(), 5999)).await;
    assert_eq!(
        (refused.code.to_string(), refused.stderr.clone()),
        (
            fixture("linux/tcp_probe_refused_rc.txt").trim().to_string(),
            fixture("linux/tcp_probe_refused_stderr.txt")
        )
    );
    run(
        &s,
        &linux::hold_connection("10.0.2.2".parse().unwrap(), 5901),
    )
    .await;
    let listed = run(&s, linux::ESTABLISHED).await.stdout;
    let client_side = fixture("linux/ss_htn_established.txt")
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        skeleton(listed.lines().next().unwrap_or("")),
        skeleton(client_side.trim_end()),
        "{listed:?}"
    );
    assert_eq!(
        linux::established(&listed).unwrap()[0].1,
        "10.0.2.2:5901".parse().unwrap()
    );
    let unknown = run(&s, "nosuchcmd").await;
    assert_eq!(
        skeleton(&unknown.stderr),
        skeleton(&fixture("linux/not_found_stderr.txt"))
    );
    assert!(linux::is_not_found(&unknown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_windows_guest_answers_in_the_documented_shapes() {
    let (_target, s) = logged_in("win", "Administrator", true).await;
    let ps = |script: &str| windows::powershell(script);

    let shaped = |command: String, file: &'static str| {
        let s = &s;
        async move {
            let sim = run(s, &command).await;
            assert_eq!(
                skeleton(&sim.stdout),
                skeleton(&fixture(file)),
                "`{command}` vs {file}:\n{:?}",
                sim.stdout
            );
            sim.stdout
        }
    };
    assert_eq!(
        windows::nproc(&shaped(ps(windows::NPROC), "windows/nproc.txt").await).unwrap(),
        1
    );
    windows::total_memory(
        &shaped(
            ps(windows::TOTAL_MEMORY),
            "windows/total_physical_memory.txt",
        )
        .await,
    )
    .unwrap();
    windows::last_boot(&shaped(ps(windows::LAST_BOOT), "windows/last_boot_utc.txt").await).unwrap();
    windows::clock(&shaped(ps(windows::CLOCK), "windows/local_date_time_utc.txt").await).unwrap();
    let processes = run(&s, &ps(windows::PROCESSES)).await.stdout;
    assert!(!windows::processes(&processes).unwrap().is_empty());
    let one = |doc: &str| -> Value {
        let v: Value = serde_json::from_str(doc).unwrap();
        v.as_array().map_or(v.clone(), |a| a[0].clone())
    };
    assert_eq!(
        keys_of(&one(&processes)),
        keys_of(&one(&fixture("windows/processes.json")))
    );
    let adapters = run(&s, &ps(windows::ADAPTERS)).await.stdout;
    let addresses = run(&s, &ps(windows::ADDRESSES)).await.stdout;
    assert_eq!(
        keys_of(&one(&adapters)),
        keys_of(&one(&fixture("windows/adapter_single.json")))
    );
    assert_eq!(
        keys_of(&one(&addresses)),
        keys_of(&one(&fixture("windows/addresses.json")))
    );
    let nics = windows::interfaces(&adapters, &addresses).unwrap();
    assert!(
        nics.iter()
            .any(|n| n.up && n.addresses.iter().any(|a| a.0.to_string() == "10.0.2.2")),
        "{nics:?}"
    );

    let reach = shaped(
        ps(&windows::test_connection("10.0.2.2".parse().unwrap(), 2)),
        "windows/test_connection_true.txt",
    )
    .await;
    assert!(windows::answered(&reach).unwrap());
    let sampled = shaped(
        ps(&windows::test_connection_every(
            "10.0.2.2".parse().unwrap(),
            2,
            1,
        )),
        "windows/test_connection_codes.json",
    )
    .await;
    assert_eq!(windows::echoes_answered(&sampled).unwrap(), 2);
    let none = run(
        &s,
        &ps(&windows::test_connection_every(
            "10.0.2.77".parse().unwrap(),
            2,
            1,
        )),
    )
    .await;
    assert_eq!(
        (none.stdout.as_str(), none.stderr.as_str()),
        ("", ""),
        "{none}"
    );
    let created = run(&s, &ps(&windows::create_process("ping.exe")))
        .await
        .stdout;
    assert_eq!(
        keys_of(&serde_json::from_str(&created).unwrap()),
        keys_of(&serde_json::from_str(&fixture("windows/create_process.json")).unwrap())
    );
    let pid = windows::created(&created).unwrap().unwrap();
    assert!(windows::exists(&run(&s, &ps(&windows::process_exists(pid))).await).unwrap());
    let gone = run(&s, &ps(&windows::process_exists(999999))).await;
    assert!(!windows::exists(&gone).unwrap(), "{gone}");
    assert_eq!(
        gone.code.to_string(),
        fixture("windows/error_rc.txt").trim()
    );
    let unknown = run(&s, &ps("Get-Frobnicator")).await;
    assert!(windows::is_not_found(&unknown), "{unknown}");
    let first_line = |t: &str| skeleton(t.lines().next().unwrap_or_default());
    assert_eq!(
        first_line(&unknown.stderr),
        first_line(&fixture("windows/not_recognized_stderr.txt"))
    );
    assert_eq!(
        first_line(&gone.stderr),
        first_line(&fixture("windows/get_process_missing_stderr.txt"))
    );
}

/// Windows OpenSSH runs each command in a job object that ends what the command started
/// (PowerShell/Win32-OpenSSH #1195, #1642): a `Start-Process` child is gone by the next
/// session, while the sentinel and the memory dirtier the harness starts through WMI run on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_processes_the_harness_starts_outlive_their_session() {
    let (target, s) = logged_in("win", "Administrator", true).await;
    let ps = |script: &str| windows::powershell(script);
    let old_way = run(
        &s,
        &ps("(Start-Process -FilePath 'notepad.exe' -PassThru).Id"),
    )
    .await;
    let pid: u32 = old_way.stdout.trim().parse().unwrap();
    let gone = run(&s, &ps(&windows::process_exists(pid))).await;
    assert!(!windows::exists(&gone).unwrap(), "the job object ended it");

    let login = Login {
        user: "Administrator".into(),
        key: KEY.into(),
        password: None,
        timeout: Duration::from_secs(10),
    };
    let guest = Guest::new(&target.client, "default", "win", GuestOs::Windows, login);
    let sentinel = guest.start_sentinel().await.unwrap();
    let dirtier = guest.start_memory_dirtier(64).await.unwrap();
    assert!(guest.alive(sentinel).await.unwrap());
    assert!(guest.alive(dirtier).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_or_a_missing_vmi_says_what_was_wrong() {
    let (target, _) = logged_in("rhel", "cloud-user", false).await;
    let other = Login {
        user: "cloud-user".into(),
        key: concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ssh/other_ed25519").into(),
        password: None,
        timeout: Duration::from_secs(10),
    };
    let refused = Session::open(&target.client, "default", "rhel", &other)
        .await
        .err()
        .unwrap();
    assert!(
        refused
            .to_string()
            .contains("was refused for user cloud-user"),
        "{refused}"
    );
    let missing = Session::open(&target.client, "default", "nope", &other)
        .await
        .err()
        .unwrap();
    assert!(
        missing
            .to_string()
            .contains("port-forward to default/nope port 22 was refused: HTTP 404"),
        "{missing}"
    );
}

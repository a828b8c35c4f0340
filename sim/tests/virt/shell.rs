//! The RHEL guest's shell over SSH, as a user who never read the harness drives it: bash's
//! builtins and the image's programs with their usual flags, and bash's own answers for a
//! missing command, a bad flag and bad syntax.

use super::*;

async fn run(client: &kube::Client, command: &str) -> (String, i32) {
    ssh(client, "vm1", KEY_FILE, command).await.unwrap()
}

#[tokio::test]
async fn the_shell_finds_the_images_programs_and_runs_builtins() {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    assert_eq!(
        run(&client, "command -v ip").await,
        ("/usr/sbin/ip\n".into(), 0)
    );
    assert_eq!(
        run(&client, "ls /usr/bin/ping").await,
        ("/usr/bin/ping\n".into(), 0)
    );
    assert_eq!(
        run(
            &client,
            "test -e /usr/bin/ping && echo yes; test -e /usr/bin/nope; echo $?"
        )
        .await,
        ("yes\n1\n".into(), 0)
    );
    assert_eq!(
        run(
            &client,
            "sleep 600 >/dev/null 2>&1 & kill -0 $! && echo alive"
        )
        .await,
        ("alive\n".into(), 0)
    );
    assert_eq!(
        run(&client, "cat /sys/class/net/eth0/operstate | grep -c up").await,
        ("1\n".into(), 0)
    );
}

#[tokio::test]
async fn ip_and_ps_take_their_usual_flags() {
    let (_sim, client) = cluster().await;
    let vmi = boot(&client, "vm1", json!({})).await;
    let mac = vmi["status"]["interfaces"][0]["mac"].as_str().unwrap();
    let (links, code) = run(&client, "ip -br link").await;
    assert_eq!(code, 0);
    assert_eq!(
        links.lines().collect::<Vec<_>>(),
        [
            "lo               UNKNOWN        00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP> ".to_string(),
            format!("eth0             UP             {mac} <BROADCAST,MULTICAST,UP,LOWER_UP> "),
        ]
    );
    let (aux, code) = run(&client, "ps aux").await;
    assert_eq!(code, 0);
    let mut rows = aux.lines();
    assert_eq!(
        rows.next(),
        Some("USER       PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND")
    );
    let first: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    assert_eq!(first.len(), 11, "eleven columns: {first:?}");
}

#[tokio::test]
async fn missing_commands_bad_flags_and_bad_syntax_fail_as_bash_and_the_tools_do() {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    assert_eq!(
        run(&client, "nosuchcmd 2>&1").await,
        ("bash: line 1: nosuchcmd: command not found\n".into(), 127)
    );
    let (usage, code) = run(&client, "ps -Q 2>&1").await;
    assert_eq!(code, 1);
    assert!(
        usage.starts_with("error: unsupported SysV option\n"),
        "{usage}"
    );
    assert_eq!(
        run(&client, "ip -Q link 2>&1").await,
        ("Option \"-Q\" is unknown, try \"ip -help\".\n".into(), 255)
    );
    assert_eq!(run(&client, "echo )").await, (String::new(), 2));
    assert_eq!(
        run(&client, "bash -c 'echo )' 2>&1").await,
        (
            "bash: -c: line 1: syntax error near unexpected token `)'\nbash: -c: line 1: `echo )'\n"
                .into(),
            2
        )
    );
}

/// The default image is a RHEL 9 KVM guest image (osbuild/images rhel-9 `qcow2` package set):
/// no nmap-ncat, no stress-ng, and no repository to install them from; python3 (cloud-init's)
/// and coreutils' `dd` and `timeout` are there.
#[tokio::test]
async fn the_default_image_has_a_rhel_9_kvm_guest_images_packages_and_no_more() {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    for missing in ["ncat", "nc", "stress-ng"] {
        assert_eq!(
            run(&client, &format!("command -v {missing}")).await,
            (String::new(), 1),
            "{missing}"
        );
    }
    for (name, path) in [
        ("python3", "/usr/bin/python3"),
        ("dd", "/usr/bin/dd"),
        ("timeout", "/usr/bin/timeout"),
    ] {
        assert_eq!(
            run(&client, &format!("command -v {name}")).await,
            (format!("{path}\n"), 0)
        );
    }
    assert_eq!(
        run(&client, "stress-ng --vm 1 --vm-bytes 64M --vm-keep 2>&1").await,
        ("bash: line 1: stress-ng: command not found\n".into(), 127)
    );
    assert_eq!(
        run(&client, "sudo dnf install -y nmap-ncat 2>&1").await,
        ("Error: There are no enabled repositories in \"/etc/yum.repos.d\", \"/etc/yum/repos.d\", \"/etc/distro.repos.d\".\n".into(), 1)
    );
    assert_eq!(
        run(&client, "dnf install -y nmap-ncat 2>&1").await,
        ("Error: This command has to be run with superuser privileges (under the root user on most systems).\n".into(), 1)
    );
}

/// Packages the settings add are there as in an image built with them; a reachable
/// repository lets `dnf install` add more.
#[tokio::test]
async fn packages_the_settings_add_or_a_repository_gives_are_installed() {
    let image = vstp_sim::guest::image::GuestImage {
        extra_packages: vec!["nmap-ncat".into()],
        repository: true,
    };
    let (_sim, client) = cluster_with_image(image).await;
    boot(&client, "vm1", json!({})).await;
    assert_eq!(
        run(&client, "command -v ncat").await,
        ("/usr/bin/ncat\n".into(), 0)
    );
    assert_eq!(run(&client, "command -v stress-ng").await.1, 1);
    let (out, code) = run(&client, "sudo dnf install -y stress-ng").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("Complete!\n"), "{out}");
    assert_eq!(
        run(&client, "command -v stress-ng").await,
        ("/usr/bin/stress-ng\n".into(), 0)
    );
    let (out, code) = run(&client, "sudo dnf install -y frobnicator 2>&1").await;
    assert_eq!(code, 1);
    assert!(
        out.contains("Error: Unable to find a match: frobnicator"),
        "{out}"
    );
}

/// TCP without nmap-ncat: python3's http.server listens, bash's `/dev/tcp` connects (a
/// refusal in bash's words), `timeout` ends a connect no one answers, and a client holding a
/// connection on its stdin is listed by ss.
#[tokio::test]
async fn bash_dev_tcp_python_http_server_and_timeout_make_a_tcp_peer() {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    let (pid, _) = run(
        &client,
        "nohup python3 -m http.server 8080 >/dev/null 2>&1 & echo $!",
    )
    .await;
    assert_eq!(run(&client, &format!("kill -0 {}", pid.trim())).await.1, 0);
    assert_eq!(
        run(&client, "timeout 2 bash -c ': </dev/tcp/127.0.0.1/8080'").await,
        (String::new(), 0)
    );
    assert_eq!(
        run(&client, "timeout 2 bash -c ': </dev/tcp/127.0.0.1/8081' 2>&1").await,
        ("bash: connect: Connection refused\nbash: line 1: /dev/tcp/127.0.0.1/8081: Connection refused\n".into(), 1)
    );
    assert_eq!(
        run(&client, "timeout 2 bash -c ': </dev/tcp/203.0.113.7/80'").await,
        (String::new(), 124),
        "nothing answers the SYNs: timeout ends the connect"
    );
    let (holder, _) = run(
        &client,
        "nohup sleep infinity 0<>/dev/tcp/127.0.0.1/8080 >/dev/null 2>&1 & echo $!",
    )
    .await;
    assert_eq!(
        run(&client, &format!("kill -0 {}", holder.trim())).await.1,
        0
    );
    let (listed, _) = run(&client, "ss -Htn state established").await;
    assert!(listed.contains("127.0.0.1:8080"), "{listed:?}");
    // A second server cannot bind the port and exits.
    let (second, _) = run(
        &client,
        "nohup python3 -m http.server 8080 >/dev/null 2>&1 & echo $!",
    )
    .await;
    assert_eq!(
        run(&client, &format!("kill -0 {}", second.trim())).await.1,
        1
    );
}

/// A dd loop onto tmpfs is a process that keeps rewriting memory; dd alone reports its copy.
#[tokio::test]
async fn a_dd_loop_on_tmpfs_runs_until_killed_and_dd_reports_its_copy() {
    let (_sim, client) = cluster().await;
    boot(&client, "vm1", json!({})).await;
    let (out, code) = run(
        &client,
        "dd if=/dev/zero of=/dev/shm/x bs=1M count=4 conv=notrunc 2>&1",
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with(
            "4+0 records in\n4+0 records out\n4194304 bytes (4.2 MB, 4.0 MiB) copied, "
        ),
        "{out}"
    );
    let (pid, _) = run(
        &client,
        "nohup sh -c 'while :; do dd if=/dev/zero of=/dev/shm/d bs=1M count=64 conv=notrunc status=none; done' >/dev/null 2>&1 & echo $!",
    )
    .await;
    let pid = pid.trim();
    assert_eq!(run(&client, &format!("kill -0 {pid}")).await.1, 0);
    assert_eq!(
        run(&client, &format!("kill {pid}; kill -0 {pid}")).await.1,
        1
    );
    assert_eq!(
        run(&client, "while :; do true; done 2>&1").await.1,
        2,
        "an endless loop in the foreground is refused, not run"
    );
}

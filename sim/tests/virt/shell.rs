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

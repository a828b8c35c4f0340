//! The shell as a user meets it: builtins, programs of the image, pipes, redirections, and
//! bash's answers for what is missing or malformed.

use crate::guest::command::Output;
use crate::guest::testing::{self, Nowhere};
use crate::guest::{distro, GuestRef};

fn guest() -> GuestRef {
    testing::booted(&distro::RHEL_9, "vm1", "eth0", "02:00:00:00:00:01")
}

fn sh(g: &GuestRef, line: &str) -> Output {
    super::run(g, &Nowhere, line)
}

#[test]
fn command_v_ls_and_test_see_the_images_programs() {
    let g = guest();
    assert_eq!(sh(&g, "command -v ip"), Output::ok("/usr/sbin/ip\n"));
    assert_eq!(sh(&g, "command -v echo"), Output::ok("echo\n"));
    assert_eq!(sh(&g, "command -v nosuch").code, 1);
    assert_eq!(sh(&g, "ls /usr/bin/ping"), Output::ok("/usr/bin/ping\n"));
    assert_eq!(
        sh(&g, "test -e /usr/bin/ping && echo yes"),
        Output::ok("yes\n")
    );
    assert_eq!(sh(&g, "[ -x /usr/sbin/ip ]").code, 0);
    assert_eq!(sh(&g, "test -e /nonexistent; echo $?"), Output::ok("1\n"));
    assert_eq!(
        sh(
            &g,
            "[ -d /sys/class/net/eth0 ] && cat /sys/class/net/eth0/address"
        ),
        Output::ok("02:00:00:00:00:01\n")
    );
    assert!(sh(&g, "ls /sys/class/net").stdout == "eth0\nlo\n");
    assert_eq!(
        sh(&g, "ls /nope"),
        Output::fail(2, "ls: cannot access '/nope': No such file or directory\n")
    );
    assert_eq!(
        sh(&g, "[ 1 -eq 1"),
        Output::fail(2, "bash: line 1: [: missing `]'\n")
    );
}

#[test]
fn unknown_commands_and_bad_syntax_answer_as_bash() {
    let g = guest();
    assert_eq!(
        sh(&g, "nosuchcmd --version"),
        Output::fail(127, "bash: line 1: nosuchcmd: command not found\n")
    );
    assert_eq!(
        sh(&g, "echo )"),
        Output::fail(2, "bash: -c: line 1: syntax error near unexpected token `)'\nbash: -c: line 1: `echo )'\n")
    );
    assert_eq!(sh(&g, "nosuch 2>/dev/null || echo $?"), Output::ok("127\n"));
}

#[test]
fn operators_redirections_and_status_compose() {
    let g = guest();
    assert_eq!(sh(&g, "false; echo $?"), Output::ok("1\n"));
    assert_eq!(sh(&g, "true && echo a || echo b"), Output::ok("a\n"));
    assert_eq!(
        sh(&g, "nosuch >/dev/null 2>&1; echo $?"),
        Output::ok("127\n")
    );
    assert_eq!(
        sh(&g, "nosuch 2>&1 | grep -c 'not found'"),
        Output::ok("1\n")
    );
    assert_eq!(sh(&g, "echo hi >/tmp/f; cat /tmp/f"), Output::ok("hi\n"));
    assert_eq!(
        sh(&g, "x=$(hostname); echo \"host $x\""),
        Output::ok("host vm1\n")
    );
    assert_eq!(
        sh(&g, "for n in a b; do echo $n; done"),
        Output::ok("a\nb\n")
    );
    assert_eq!(
        sh(&g, "if [ -e /proc/uptime ]; then echo up; else echo no; fi"),
        Output::ok("up\n")
    );
    assert_eq!(sh(&g, "echo a b | wc -w"), Output::ok("2\n"));
    assert_eq!(sh(&g, "exit 3; echo no"), Output::fail(3, ""));
}

#[test]
fn background_jobs_get_a_pid_even_when_the_program_is_missing() {
    let g = guest();
    let pid = sh(&g, "sleep 600 & echo $!").stdout;
    let pid = pid.trim();
    assert_eq!(sh(&g, &format!("kill -0 {pid}")).code, 0);
    let row = sh(&g, &format!("ps -p {pid} -o pid=,comm="));
    assert_eq!(
        row.stdout.split_whitespace().nth(1),
        Some("sleep"),
        "{row:?}"
    );
    assert_eq!(
        sh(&g, &format!("kill {pid}; kill -0 {pid}")),
        Output::fail(
            1,
            format!("bash: line 1: kill: ({pid}) - No such process\n")
        )
    );
    let gone = sh(&g, "nohup nosuch >/dev/null 2>&1 & echo $!").stdout;
    assert_eq!(sh(&g, &format!("kill -0 {}", gone.trim())).code, 1);
}

#[test]
fn ip_ps_and_pgrep_take_their_usual_flags() {
    let g = guest();
    assert_eq!(
        sh(&g, "ip -br link").stdout,
        "lo               UNKNOWN        00:00:00:00:00:00 <LOOPBACK,UP,LOWER_UP> \neth0             UP             02:00:00:00:00:01 <BROADCAST,MULTICAST,UP,LOWER_UP> \n"
    );
    assert!(sh(&g, "ip -br -4 addr show eth0")
        .stdout
        .starts_with("eth0             UP             10.0.2.2/24 \n"));
    assert_eq!(
        sh(&g, "ip -Q link"),
        Output::fail(255, "Option \"-Q\" is unknown, try \"ip -help\".\n")
    );
    let aux = sh(&g, "ps aux").stdout;
    assert!(
        aux.starts_with(
            "USER       PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
        ),
        "{aux}"
    );
    assert!(
        aux.lines()
            .nth(1)
            .unwrap()
            .starts_with("root         1  0.0"),
        "{aux}"
    );
    assert_eq!(
        sh(&g, "ps -p 1").stdout,
        "  PID TTY          TIME CMD\n    1 ?        00:00:00 systemd\n"
    );
    assert!(sh(&g, "ps -Q")
        .stderr
        .starts_with("error: unsupported SysV option\n"));
    assert_eq!(sh(&g, "pgrep -x sshd | wc -l"), Output::ok("1\n"));
}

#[test]
fn unquoted_patterns_expand_over_the_filesystem() {
    let g = guest();
    assert_eq!(sh(&g, "ls /usr/bin/pg*"), Output::ok("/usr/bin/pgrep\n"));
    assert_eq!(sh(&g, "echo '/usr/bin/pg*'"), Output::ok("/usr/bin/pg*\n"));
    assert_eq!(sh(&g, "echo /nope/*"), Output::ok("/nope/*\n"));
}

#[test]
fn ps_reads_pid_and_format_options() {
    let g = guest();
    assert_eq!(
        sh(&g, "ps -p 1 -o pid=,comm="),
        Output::ok("    1 systemd\n")
    );
    assert_eq!(
        sh(&g, "ps -o pid,comm -p 1"),
        Output::ok("  PID COMMAND\n    1 systemd\n")
    );
}

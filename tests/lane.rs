//! `ci/nightly-baremetal.sh` with a stand-in `vstp` (VSTP=...): whatever a step does, the lane
//! writes `$ARTIFACT_DIR/junit_vstp_lane.xml`; a failed stale-run cleanup is an error case there
//! and the run still happens; an unreachable cluster stops the lane with exit 2, reported.

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;
use support::Scratch;

/// A `vstp` that records its arguments and answers as told by FAKE_* variables.
const FAKE_VSTP: &str = r#"#!/usr/bin/env bash
echo "$*" >> "$FAKE_CALLS"
case "$1" in
  cleanup) echo "vstp: cannot list namespaces: the API server answered 403 <Forbidden> & \"no\"" >&2
           exit "${FAKE_CLEANUP_EXIT:-0}" ;;
  preflight) echo "vstp: preflight of the cluster target"
             [ "${FAKE_PREFLIGHT_EXIT:-0}" -eq 2 ] && echo "vstp: the API server is not reachable" >&2
             exit "${FAKE_PREFLIGHT_EXIT:-0}" ;;
  run) echo '<testsuites/>' > "$ARTIFACT_DIR/junit_vstp.xml"; exit 0 ;;
esac
exit 64
"#;

struct Lane {
    dir: Scratch,
    code: Option<i32>,
}

impl Lane {
    /// Runs the lane with the stand-in, `env` on top.
    fn run(label: &str, env: &[(&str, &str)]) -> Lane {
        let dir = Scratch::new(label);
        let fake = dir.join("vstp");
        std::fs::write(&fake, FAKE_VSTP).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&fake, mode).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/nightly-baremetal.sh");
        let out = Command::new("bash")
            .arg(script)
            .env("VSTP", &fake)
            .env("KUBECONFIG", dir.join("kubeconfig"))
            .env("ARTIFACT_DIR", dir.join("artifacts"))
            .env("FAKE_CALLS", dir.join("calls"))
            .envs(env.iter().copied())
            .output()
            .expect("bash runs the lane");
        Lane {
            code: out.status.code(),
            dir,
        }
    }

    fn junit(&self) -> String {
        let path: PathBuf = self.dir.join("artifacts/junit_vstp_lane.xml");
        let xml = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no lane JUnit at {}: {e}", path.display()));
        let mut reader = quick_xml::Reader::from_str(&xml);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("the lane JUnit is not well-formed XML: {e}\n{xml}"),
            }
        }
        xml
    }

    fn calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.join("calls")).unwrap_or_default();
        text.lines().map(String::from).collect()
    }
}

#[test]
fn a_failed_cleanup_is_an_error_case_and_the_run_still_happens() {
    let lane = Lane::run("lane-cleanup", &[("FAKE_CLEANUP_EXIT", "1")]);
    let xml = lane.junit();
    let cleanup = xml
        .split("<testcase ")
        .find(|c| c.contains(r#"name="stale-run cleanup""#))
        .unwrap_or_else(|| panic!("no cleanup case: {xml}"));
    assert!(
        cleanup.contains(r#"<error message="exit 1: vstp: cannot list namespaces"#),
        "{cleanup}"
    );
    assert!(
        cleanup.contains("403 &lt;Forbidden&gt; &amp; &quot;no&quot;"),
        "{cleanup}"
    );
    assert!(xml.contains(r#"errors="1""#), "{xml}");
    let calls = lane.calls();
    assert_eq!(
        calls.last().map(String::as_str),
        Some("run --target cluster --allow-disruptive"),
        "{calls:?}"
    );
    assert!(lane.dir.join("artifacts/junit_vstp.xml").exists());
    assert_eq!(lane.code, Some(1), "a lane step failed, so the job is red");
}

#[test]
fn an_unreachable_cluster_stops_the_lane_with_2_and_is_reported() {
    let lane = Lane::run("lane-unreachable", &[("FAKE_PREFLIGHT_EXIT", "2")]);
    assert_eq!(lane.code, Some(2));
    let xml = lane.junit();
    let preflight = xml
        .split("<testcase ")
        .find(|c| c.contains(r#"name="preflight""#))
        .unwrap_or_else(|| panic!("no preflight case: {xml}"));
    assert!(
        preflight.contains("<error message=\"exit 2: vstp: the API server is not reachable"),
        "{preflight}"
    );
    assert!(
        !lane.calls().iter().any(|c| c.starts_with("run")),
        "{:?}",
        lane.calls()
    );
}

#[test]
fn a_clean_night_reports_every_step_passed() {
    let lane = Lane::run("lane-clean", &[]);
    assert_eq!(lane.code, Some(0));
    let xml = lane.junit();
    assert!(
        xml.contains(r#"errors="0""#) && !xml.contains("<error"),
        "{xml}"
    );
    for step in ["stale-run cleanup", "preflight", "run"] {
        assert!(xml.contains(&format!(r#"name="{step}""#)), "{step}: {xml}");
    }
}

/// `ci/setup.sh` with PATH holding only stand-ins: `present` tools, one package manager that
/// records what it is asked, and the few commands the script itself uses.
fn setup_with(label: &str, present: &[&str], manager: &str) -> (Option<i32>, String, String) {
    let dir = Scratch::new(label);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = |name: &str, body: &str| {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&path, mode).unwrap();
    };
    for tool in present {
        script(tool, "exit 0");
    }
    let asked = dir.join("asked");
    script(manager, &format!("echo \"$0 $*\" >> {}", asked.display()));
    script("sudo", "exec \"$@\"");
    // The real-guest lane's qemu, new enough: setup leaves it alone.
    script(
        "qemu-system-x86_64",
        "echo 'QEMU emulator version 10.0.2 (stand-in)'",
    );
    for real in ["id", "grep"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(real))
            .find(|p| p.exists());
        std::os::unix::fs::symlink(found.expect("coreutils"), bin.join(real)).unwrap();
    }
    let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/setup.sh");
    let out = Command::new("/bin/bash")
        .arg(setup)
        .env("PATH", &bin)
        .output()
        .expect("bash runs setup");
    let asked = std::fs::read_to_string(asked).unwrap_or_default();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    (
        out.status.code(),
        asked.replace(&bin.display().to_string(), ""),
        said,
    )
}

#[test]
fn setup_installs_with_dnf_on_rhel_and_names_what_has_no_package() {
    let (code, asked, said) = setup_with("setup-dnf", &["perl"], "dnf");
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(asked.trim(), "/dnf install -y -q make gcc", "{said}");
    assert!(
        said.contains("kubectl is missing and dnf has no package"),
        "{said}"
    );
}

#[test]
fn setup_does_nothing_when_the_tools_are_there() {
    let (code, asked, said) =
        setup_with("setup-none", &["perl", "make", "cc", "kubectl"], "apt-get");
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(asked, "", "nothing to install, nothing asked");
    let (_, asked, _) = setup_with("setup-apt", &["perl", "make", "kubectl"], "apt-get");
    assert_eq!(asked, "/apt-get update -qq\n/apt-get install -y -qq gcc\n");
}

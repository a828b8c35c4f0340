//! The `vstp` binary as users call it: exit codes, JSON shapes, error messages.

use std::path::Path;
use std::process::{Command, Output};

mod support;
use support::Scratch;

fn vstp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vstp"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("ARTIFACT_DIR")
        .output()
        .expect("vstp runs")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/stp")
        .join(name)
        .display()
        .to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn stp_check_json_has_the_documented_fields() {
    let out = vstp(&[
        "stp",
        "check",
        "--format",
        "json",
        &fixture("table.md"),
        &fixture("tiers.md"),
    ]);
    // tiers.md has a row without a tier: the row is still printed, the lint fails the check.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("tiers.md:14: the row gives no tier"),
        "{}",
        text(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    assert_eq!(rows.len(), 6);
    let first = &rows[0];
    assert!(first["file"].as_str().unwrap().ends_with("table.md"));
    assert_eq!(first["line"], 7);
    assert_eq!(first["ids"], serde_json::json!(["CNV-15225"]));
    assert_eq!(first["tier"], 1);
    assert_eq!(first["priority"], "P0");
    assert!(first["story"].as_str().unwrap().starts_with("As an admin"));
    assert!(first["scenario"]
        .as_str()
        .unwrap()
        .starts_with("Migrate the VM"));
    assert_eq!(
        rows[5]["tier"],
        serde_json::Value::Null,
        "CNV-4 has no tier"
    );
}

#[test]
fn stp_check_fails_with_file_and_line() {
    let out = vstp(&["stp", "check", &fixture("malformed.md")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:10: unreadable priority `high`",
            fixture("malformed.md")
        )),
        "{stderr}"
    );
}

#[test]
fn coverage_prints_the_matrix_and_strict_holds_with_no_row_pending() {
    let out = vstp(&["coverage", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["totals"]["rows"], 29);
    // A pending row failing `--strict` is tests/catalog.rs `pending_rows_are_reported_as_pending`.
    assert_eq!(doc["totals"]["pending"], 0);
    let strict = vstp(&["coverage", "--strict"]);
    assert!(strict.status.success(), "{}", text(&strict.stderr));
    let md = text(&vstp(&["coverage"]).stdout);
    assert!(
        md.contains("## Rows without tests") && md.contains("## Tests without rows"),
        "{md}"
    );
    assert!(
        md.contains("| sig-network/hotpluggable-nad-ref.md | 103 | VIRTSTRAT-560 | T2 | P0 |"),
        "{md}"
    );
}

#[test]
fn an_unknown_id_exits_2_and_names_the_closest() {
    let out = vstp(&["run", "CNV-15973"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no scenario answers to `CNV-15973`; closest IDs: CNV-15972"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_exit_2_with_the_reason() {
    let out = vstp(&["run", "--priority", "high"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`high` is not a priority"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(vstp(&["run", "--tier", "9"]).status.code(), Some(2));
    assert_eq!(vstp(&["frobnicate"]).status.code(), Some(2));
}

/// The JUnit of a run goes to `$ARTIFACT_DIR`, as Polarion's importer reads it: the test run's
/// properties from `[polarion]` and the jobs' `POLARION_*` variables under `<testsuites>`, and
/// one `<testcase>` per Polarion ID.
#[test]
fn run_writes_junit_to_artifact_dir() {
    let dir = Scratch::new("cli-run");
    let settings = dir.join("vstp.toml");
    std::fs::write(
        &settings,
        "[polarion]\nuser_id = \"cnvqe\"\nenv_tier = \"tier2\"\n\
         [polarion.response]\nmyproduct = \"cnv-test-run\"\n",
    )
    .expect("settings written");
    let out = Command::new(env!("CARGO_BIN_EXE_vstp"))
        .args([
            "run",
            "VIRTSTRAT-560",
            "--test-threads",
            "1",
            "--sim-seed",
            "4242",
        ])
        .arg("--config")
        .arg(&settings)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ARTIFACT_DIR", dir.path())
        .env("POLARION_TESTRUN_ID", "CNV-4.20-tier2-nightly")
        .env("POLARION_OS", "")
        .output()
        .expect("vstp runs");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let xml = std::fs::read_to_string(dir.join("junit_vstp.xml")).expect("JUnit in ARTIFACT_DIR");
    let junit = support::junit::parse(&xml);
    for (k, v) in [
        ("polarion-project-id", "CNV"),
        ("polarion-testrun-id", "CNV-4.20-tier2-nightly"),
        ("polarion-user-id", "cnvqe"),
        ("polarion-custom-env_tier", "tier2"),
        ("polarion-response-myproduct", "cnv-test-run"),
        ("polarion-custom-isautomated", "True"),
        ("polarion-testrun-status-id", "inprogress"),
    ] {
        assert!(
            junit.run.contains(&(k.into(), v.into())),
            "{k}={v} missing under <testsuites>: {:?}",
            junit.run
        );
    }
    assert!(
        junit.run.iter().all(|(k, _)| k != "polarion-custom-env_os"),
        "an empty POLARION_OS is unset: {:?}",
        junit.run
    );
    assert_eq!(
        junit.cases.len(),
        7,
        "VIRTSTRAT-560 selects its six scenarios on five rows; bridge-vlan-swap reports two \
         Polarion IDs"
    );
    let ids: Vec<Vec<&str>> = junit
        .cases
        .iter()
        .map(|c| c.values("polarion-testcase-id"))
        .collect();
    assert!(
        ids.iter().all(|one| one.len() <= 1),
        "at most one Polarion ID per testcase: {ids:?}"
    );
    let swap = |id: &str| {
        junit
            .cases
            .iter()
            .find(|c| c.values("polarion-testcase-id") == [id])
            .map(|c| c.name.as_str())
    };
    let trial = "sig-network/hotpluggable-nad-ref/CNV-15972/bridge-vlan-swap";
    assert_eq!(swap("CNV-15972"), Some(trial));
    assert_eq!(
        swap("CNV-15945"),
        Some(format!("{trial} [CNV-15945]").as_str())
    );
    assert!(
        xml.contains(r#"name="vstp-sim-seed" value="4242""#),
        "the seed that repeats the run's timings is in the JUnit"
    );
    assert!(
        stdout.contains("JUnit: ") && stdout.contains("SCENARIO"),
        "{stdout}"
    );
}

/// A bad Polarion value in the settings stops the run at once, naming the key and the job's
/// variable.
#[test]
fn a_bad_polarion_setting_exits_2_and_names_the_key() {
    let dir = Scratch::new("cli-polarion");
    let out = Command::new(env!("CARGO_BIN_EXE_vstp"))
        .args(["run", "VIRTSTRAT-560"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ARTIFACT_DIR", dir.path())
        .env("POLARION_TESTRUN_ID", "nightly/4.20")
        .output()
        .expect("vstp runs");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("polarion.testrun_id (or POLARION_TESTRUN_ID) = \"nightly/4.20\""),
        "{stderr}"
    );
}

/// `vstp sim serve` writes a kubeconfig, serves until SIGTERM, then removes it; it refuses to
/// overwrite a file it did not write.
#[test]
fn sim_serve_writes_and_removes_its_kubeconfig_and_spares_foreign_files() {
    use std::io::BufRead as _;
    let dir = Scratch::new("cli-sim");
    let foreign = dir.join("mine.kubeconfig");
    std::fs::write(&foreign, "apiVersion: v1\nkind: Config\n").unwrap();
    let refused = vstp(&[
        "sim",
        "serve",
        "--kubeconfig-out",
        foreign.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("was not written by vstp"));
    assert_eq!(
        std::fs::read_to_string(&foreign).unwrap(),
        "apiVersion: v1\nkind: Config\n"
    );

    let ours = dir.join("sim.kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vstp"))
        .args(["sim", "serve", "--kubeconfig-out", ours.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("vstp-sim serving https://127.0.0.1:"),
        "{first}"
    );
    let second = lines.next().unwrap().unwrap();
    assert_eq!(second, format!("export KUBECONFIG={}", ours.display()));
    let kubeconfig = std::fs::read_to_string(&ours).unwrap();
    assert!(kubeconfig.contains("certificate-authority-data:") && kubeconfig.contains("token:"));
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(child.wait().unwrap().success());
    assert!(!ours.exists(), "the kubeconfig is removed on exit");
}

#[test]
fn preflight_reports_the_simulator_ready() {
    let out = vstp(&["preflight", "--target", "sim"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}{}", text(&out.stdout));
    assert!(err.contains("preflight of the sim target"), "{err}");
    assert!(
        err.contains("ok    KubeVirt workloadUpdateMethods includes LiveMigrate"),
        "{err}"
    );
}

#[test]
fn preflight_of_an_unreachable_cluster_exits_2_and_says_why() {
    let dir = Scratch::new("cli-preflight");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    let out = vstp(&[
        "preflight",
        "--target",
        "cluster",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the API server is not reachable"), "{err}");
}

/// A `--deny` entry that is not VERB:RESOURCE[.GROUP] is refused before anything is served,
/// saying what it should look like.
#[test]
fn sim_serve_refuses_a_malformed_deny_entry() {
    let out = vstp(&["sim", "serve", "--deny", "create:namespaces,nodes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--deny: \"nodes\" is not VERB:RESOURCE[.GROUP]"),
        "{err}"
    );
}

/// An unknown `--durations` profile is refused before anything is served, naming the profiles.
#[test]
fn sim_serve_refuses_an_unknown_durations_profile() {
    let out = vstp(&["sim", "serve", "--durations", "fast"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("use one of simulator, bare-metal"), "{err}");
}

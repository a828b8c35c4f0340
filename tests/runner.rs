//! The runner on scenarios that need no cluster: outcomes, budgets, panics, pending rows,
//! disruptive exclusion, interrupts, and the JUnit it writes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use quick_xml::events::Event;
use vstp::cluster::{TargetKind, TargetOptions};
use vstp::ctx::Ctx;
use vstp::plan::{self, Declaration};
use vstp::runner::{Interrupter, Outcome, Planned, Run, RunConfig, RunReport};
use vstp::scenarios::{Attach, Scenario};
use vstp::stp;

mod support;
use support::Scratch;

fn row(index: usize) -> stp::Row {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/stp/table.md");
    stp::parse_file(&path).expect("fixture").rows[index - 1].clone()
}

fn declared(slug: &'static str) -> Declaration {
    plan::row("sig-virt/table.md", 1, slug)
        .ids(&["CNV-15225"])
        .budget(Duration::from_secs(30))
}

fn planned(scenario: Scenario) -> Planned {
    Planned {
        scenario,
        row: row(1),
    }
}

fn automated(
    slug: &'static str,
    body: fn(Ctx) -> BoxFuture<'static, anyhow::Result<()>>,
) -> Planned {
    planned(declared(slug).body(body))
}

fn pending(slug: &'static str, reason: &'static str) -> Planned {
    planned(declared(slug).not_yet(reason))
}

/// A run's configuration, writing below `dir`.
fn config(dir: &Scratch, target: TargetKind) -> RunConfig {
    let options = TargetOptions {
        target,
        kubeconfig: None,
        context: None,
        settings: None,
        sim_faults: None,
        sim_seed: None,
        guests: None,
    };
    let mut config = RunConfig::new(options, false);
    config.junit_path = dir.join("junit.xml");
    config.artifacts = dir.join("artifacts");
    config.handle_signals = false;
    config
}

fn execute(config: RunConfig, planned: Vec<Planned>, threads: usize) -> RunReport {
    let args = libtest_mimic::Arguments {
        test_threads: Some(threads),
        quiet: true,
        ..Default::default()
    };
    Run::new(config, planned).expect("run").execute(&args)
}

fn outcome(report: &RunReport, slug: &str) -> Outcome {
    let case = report
        .cases
        .iter()
        .find(|c| c.planned.scenario.decl.slug == slug)
        .expect("case recorded");
    case.outcome_now().0
}

fn passes(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        ctx.step("created the VM");
        ctx.step("asserted the guest was not rebooted");
        Ok(())
    }
    .boxed()
}

fn fails(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        ctx.step("waiting for the migration");
        anyhow::bail!("expected migration mode PostCopy, saw PreCopy")
    }
    .boxed()
}

fn never_ends(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        ctx.step("awaiting a condition that never comes");
        std::future::pending::<()>().await;
        Ok(())
    }
    .boxed()
}

fn panics(_: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move { panic!("index out of range in a helper") }.boxed()
}

#[test]
fn outcomes_are_recorded_and_reported() {
    let mut over_budget = automated("over-budget", never_ends);
    over_budget.scenario.decl.budget = Some(Duration::from_millis(50));
    let cases = vec![
        automated("passes", passes),
        automated("fails", fails),
        over_budget,
        automated("panics", panics),
        pending("pending", "waits for the simulator"),
    ];
    let scratch = Scratch::new("runner-outcomes");
    let report = execute(config(&scratch, TargetKind::Sim), cases, 2);
    assert_eq!(outcome(&report, "passes"), Outcome::Passed);
    assert_eq!(
        outcome(&report, "fails"),
        Outcome::Failed("expected migration mode PostCopy, saw PreCopy".into())
    );
    let Outcome::Failed(budget) = outcome(&report, "over-budget") else {
        panic!("budget not enforced")
    };
    assert!(
        budget.contains("exceeded its budget of 0.1s")
            || budget.contains("exceeded its budget of 0.0s"),
        "{budget}"
    );
    assert!(
        budget.contains("awaiting a condition that never comes"),
        "{budget}"
    );
    let Outcome::Error(panic) = outcome(&report, "panics") else {
        panic!("panic not caught")
    };
    assert!(panic.contains("index out of range in a helper"), "{panic}");
    assert_eq!(
        outcome(&report, "pending"),
        Outcome::Skipped("pending: waits for the simulator".into())
    );
    assert!(report.failed());

    let steps =
        std::fs::read_to_string(artifact(&report, "passes").join("steps.log")).expect("step log");
    assert!(steps.contains("s] created the VM\n"), "{steps}");
}

fn artifact(report: &RunReport, slug: &str) -> PathBuf {
    report
        .cases
        .iter()
        .find(|c| c.planned.scenario.decl.slug == slug)
        .unwrap()
        .artifacts
        .clone()
}

/// (element name, attributes) of every element in the XML, in document order.
fn elements(xml: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) => {
                let attrs = e
                    .attributes()
                    .map(|a| {
                        let a = a.expect("attribute");
                        (
                            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                            a.unescape_value().expect("value").into_owned(),
                        )
                    })
                    .collect();
                out.push((
                    String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                    attrs,
                ));
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn junit_carries_polarion_and_traceability_properties() {
    let mut with_polarion = automated("fails", fails);
    with_polarion.scenario.decl.test_ids = &["CNV-15972", "CNV-15945"];
    with_polarion.scenario.decl.row_ids = &["VIRTSTRAT-560"];
    with_polarion.scenario.decl.stp = "sig-network/nad.md";
    let cases = vec![
        with_polarion,
        automated("passes", passes),
        pending("pending", "later"),
    ];
    let scratch = Scratch::new("runner-junit");
    let mut config = config(&scratch, TargetKind::Sim);
    config.polarion.project_id = "CNVQE".into();
    config.polarion.testrun_id = Some("vstp nightly".into());
    config.polarion.responses = vec![("myproduct".into(), "cnv-test-run".into())];
    let report = execute(config, cases, 1);
    let xml = std::fs::read_to_string(&report.junit_path).expect("junit written");
    let all = elements(&xml);

    let suites: Vec<&str> = all
        .iter()
        .filter(|(n, _)| n == "testsuite")
        .filter_map(|(_, a)| attr(a, "name"))
        .collect();
    assert_eq!(
        suites,
        ["sig-network/nad", "sig-virt/table"],
        "one suite per STP"
    );

    // Properties of each testcase follow its <testcase> element until the next one.
    let mut props: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut suite_props = Vec::new();
    for (name, attrs) in &all {
        match name.as_str() {
            "testcase" => props.push((attr(attrs, "name").unwrap().to_string(), Vec::new())),
            "property" => {
                let pair = (
                    attr(attrs, "name").unwrap().to_string(),
                    attr(attrs, "value").unwrap().to_string(),
                );
                match props.last_mut() {
                    Some((_, list)) => list.push(pair),
                    None => suite_props.push(pair),
                }
            }
            "testsuite" if !props.is_empty() => props.push(("(suite)".into(), Vec::new())),
            _ => {}
        }
    }
    for (k, v) in [
        ("polarion-project-id", "CNVQE"),
        ("polarion-testrun-id", "vstp nightly"),
        ("polarion-response-myproduct", "cnv-test-run"),
        ("polarion-custom-isautomated", "True"),
        ("polarion-testrun-status-id", "inprogress"),
    ] {
        assert!(
            suite_props.contains(&(k.into(), v.into())),
            "{k}={v} missing in the run's properties {suite_props:?}"
        );
    }
    // One <testcase> per Polarion ID, each with that ID alone and the scenario's outcome.
    let names: Vec<&str> = props.iter().take(2).map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "sig-network/nad/CNV-15972/fails",
            "sig-network/nad/CNV-15972/fails [CNV-15945]"
        ]
    );
    for ((_, nad), id) in props.iter().zip(["CNV-15972", "CNV-15945"]) {
        let ids: Vec<&str> = nad
            .iter()
            .filter(|(k, _)| k == "polarion-testcase-id")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(ids, [id], "one Polarion ID per testcase: {nad:?}");
        let expect = |k: &str, v: &str| {
            assert!(
                nad.contains(&(k.to_string(), v.to_string())),
                "{k}={v} missing in {nad:?}"
            )
        };
        expect("requirement", "VIRTSTRAT-560");
        expect("stp", "stps/sig-network/nad.md:7");
        expect("tier", "1");
        expect("priority", "P0");
        expect("target", "sim");
    }
    let failures = all.iter().filter(|(n, _)| n == "failure").count();
    assert_eq!(failures, 2, "both IDs carry the scenario's failure");
    let table_case = &props
        .iter()
        .find(|(n, _)| n.ends_with("/passes"))
        .unwrap()
        .1;
    assert!(
        table_case.contains(&("polarion-testcase-id".into(), "CNV-15225".into())),
        "row CNV IDs are Polarion IDs: {table_case:?}"
    );

    let failure = all
        .iter()
        .find(|(n, _)| n == "failure")
        .expect("a <failure>");
    let message = attr(&failure.1, "message").unwrap();
    assert!(
        message.contains("saw PreCopy") && message.contains("artifacts:"),
        "{message}"
    );
    assert!(all
        .iter()
        .any(|(n, a)| n == "skipped"
            && attr(a, "message").is_some_and(|m| m.contains("pending: later"))));
    assert!(
        xml.contains("asserted the guest was not rebooted"),
        "step log in system-out"
    );
}

static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static MOST_ORDINARY_AT_ONCE: AtomicUsize = AtomicUsize::new(0);
static OVERLAPS: AtomicUsize = AtomicUsize::new(0);
static DISRUPTIVE_ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// The first two ordinary scenarios meet here: the positive control that ordinary ones do
/// share the cluster, so that "no overlap" below is a property of the disruptive ones.
static PAIR: OnceLock<tokio::sync::Barrier> = OnceLock::new();

async fn ordinary_turn() {
    let now = ACTIVE.fetch_add(1, Ordering::SeqCst) + 1;
    MOST_ORDINARY_AT_ONCE.fetch_max(now, Ordering::SeqCst);
    for _ in 0..200 {
        if DISRUPTIVE_ACTIVE.load(Ordering::SeqCst) > 0 {
            OVERLAPS.fetch_add(1, Ordering::SeqCst);
        }
        tokio::task::yield_now().await;
    }
}

fn ordinary(_: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        ordinary_turn().await;
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
    .boxed()
}

fn ordinary_pair(_: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        ordinary_turn().await;
        let pair = PAIR.get_or_init(|| tokio::sync::Barrier::new(2));
        let met = tokio::time::timeout(Duration::from_secs(60), pair.wait()).await;
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
        anyhow::ensure!(
            met.is_ok(),
            "the other ordinary scenario of the pair never ran beside this one within 60 s"
        );
        Ok(())
    }
    .boxed()
}

fn disruptive(_: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        DISRUPTIVE_ACTIVE.fetch_add(1, Ordering::SeqCst);
        for _ in 0..200 {
            if ACTIVE.load(Ordering::SeqCst) > 0 || DISRUPTIVE_ACTIVE.load(Ordering::SeqCst) > 1 {
                OVERLAPS.fetch_add(1, Ordering::SeqCst);
            }
            tokio::task::yield_now().await;
        }
        DISRUPTIVE_ACTIVE.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
    .boxed()
}

const SLUGS: [&str; 8] = ["o1", "o2", "d1", "o3", "o4", "d2", "o5", "o6"];

#[test]
fn disruptive_scenarios_never_run_beside_another_while_ordinary_ones_share() {
    let cases = SLUGS
        .iter()
        .map(|slug| {
            let body = match *slug {
                "o1" | "o2" => ordinary_pair,
                s if s.starts_with('d') => disruptive,
                _ => ordinary,
            };
            let mut p = automated(slug, body);
            p.scenario.decl.disruptive = slug.starts_with('d');
            p
        })
        .collect();
    let scratch = Scratch::new("runner-disruptive");
    let report = execute(config(&scratch, TargetKind::Sim), cases, 4);
    for slug in SLUGS {
        assert_eq!(outcome(&report, slug), Outcome::Passed, "{slug}");
    }
    assert!(
        MOST_ORDINARY_AT_ONCE.load(Ordering::SeqCst) >= 2,
        "ordinary scenarios never ran together: the test could not see an overlap"
    );
    assert_eq!(
        OVERLAPS.load(Ordering::SeqCst),
        0,
        "a disruptive scenario ran beside another"
    );
}

#[test]
fn disruptive_scenarios_are_skipped_on_a_cluster_without_permission() {
    let mut drain = automated("drain", passes);
    drain.scenario.decl.disruptive = true;
    let scratch = Scratch::new("runner-cluster-safety");
    let report = execute(config(&scratch, TargetKind::Cluster), vec![drain], 1);
    let Outcome::Skipped(reason) = outcome(&report, "drain") else {
        panic!("a disruptive scenario ran")
    };
    assert!(reason.contains("--allow-disruptive"), "{reason}");
}

static INTERRUPTER: OnceLock<Interrupter> = OnceLock::new();

fn interrupts_the_run(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        ctx.step("draining the node");
        INTERRUPTER
            .get()
            .expect("set before the run")
            .interrupt("SIGINT");
        std::future::pending::<()>().await;
        Ok(())
    }
    .boxed()
}

#[test]
fn an_interrupted_run_still_writes_junit_with_unfinished_cases_as_errors() {
    let cases = vec![
        automated("first", interrupts_the_run),
        automated("second", passes),
    ];
    let scratch = Scratch::new("runner-interrupt");
    let run = Run::new(config(&scratch, TargetKind::Sim), cases).expect("run");
    INTERRUPTER
        .set(run.interrupter())
        .ok()
        .expect("one interrupt test");
    let args = libtest_mimic::Arguments {
        test_threads: Some(1),
        quiet: true,
        ..Default::default()
    };
    let report = run.execute(&args);
    assert_eq!(report.interrupted, Some("SIGINT"));
    let Outcome::Error(first) = outcome(&report, "first") else {
        panic!("first not an error")
    };
    assert!(
        first.contains("interrupted by SIGINT; last step:") && first.contains("draining the node"),
        "{first}"
    );
    let Outcome::Error(second) = outcome(&report, "second") else {
        panic!("second ran after the interrupt")
    };
    assert!(second.contains("not run"), "{second}");
    let xml = std::fs::read_to_string(&report.junit_path).expect("junit written");
    assert_eq!(
        elements(&xml).iter().filter(|(n, _)| n == "error").count(),
        2,
        "{xml}"
    );
}

/// Two scenarios on the sim target share one in-process simulator through `ctx.client()`:
/// what the first writes, the second reads.
fn writes_through_the_sim(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        use k8s_openapi::api::core::v1::ConfigMap;
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(ctx.client().await?, "default");
        let cm =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "from-a-scenario"}}))?;
        api.create(&Default::default(), &cm).await?;
        Ok(())
    }
    .boxed()
}

fn reads_through_the_sim(ctx: Ctx) -> BoxFuture<'static, anyhow::Result<()>> {
    async move {
        use k8s_openapi::api::core::v1::ConfigMap;
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(ctx.client().await?, "default");
        api.get("from-a-scenario").await?;
        Ok(())
    }
    .boxed()
}

#[test]
fn scenarios_on_the_sim_target_talk_to_one_in_process_simulator() {
    let cases = vec![automated("writes", writes_through_the_sim)];
    let mut reads = automated("reads", reads_through_the_sim);
    reads.scenario.decl.disruptive = true; // runs alone, so after "writes"
    let scratch = Scratch::new("runner-sim-target");
    let report = execute(
        config(&scratch, TargetKind::Sim),
        [cases, vec![reads]].concat(),
        1,
    );
    assert_eq!(outcome(&report, "writes"), Outcome::Passed);
    assert_eq!(outcome(&report, "reads"), Outcome::Passed);
}

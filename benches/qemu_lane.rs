//! The real-guest lane's numbers (`cargo bench --bench qemu_lane`): boot-to-SSH of a RHEL VM
//! whose guest is a real kernel in qemu (TCG), and how long its live migration takes, by mode
//! (pre-copy of an idle guest; post-copy and paused under a memory dirtier, as the
//! AllowWorkloadDisruption rows run them) and by guest memory. Prints a table; asserts
//! nothing. `ci/qemu-lane.sh` times the whole Linux catalogue in the lane.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::FutureExt;
use vstp::cluster::build::MigrationPolicy;
use vstp::cluster::{kinds, NamespaceKind};
use vstp::ctx::Ctx;
use vstp::guest::os::GuestOs;
use vstp::runner::Outcome;

#[path = "../tests/support/mod.rs"]
mod support;

/// Memory the dirtier keeps rewriting, as the AWD rows do.
const DIRTIED_MIB: u32 = 350;

#[derive(Clone, Copy, Debug)]
enum Mode {
    IdlePreCopy,
    PostCopy,
    Paused,
}

type Rows = Arc<Mutex<Vec<String>>>;

async fn measure(ctx: Ctx, memory: &'static str, mode: Mode, rows: Rows) -> anyhow::Result<()> {
    let scope = ctx.scope(NamespaceKind::Plain).await?;
    if !matches!(mode, Mode::IdlePreCopy) {
        let name = scope.cluster_name("bench-awd");
        let policy = MigrationPolicy::named(&name)
            .workload_disruption(matches!(mode, Mode::PostCopy))
            .throttled("64Mi", 10)
            .selecting_vmis("vstp.io/vm", "bench");
        scope
            .create(kinds::MIGRATION_POLICY, policy.build())
            .await?;
    }
    let spec = ctx
        .vm("bench", GuestOs::Rhel)
        .await?
        .with_memory(memory, memory);
    let started = Instant::now();
    let vm = ctx.start(&scope, &spec).await?;
    let boot = started.elapsed();
    if !matches!(mode, Mode::IdlePreCopy) {
        let how = ctx.rhel_dirtier().await?;
        vm.guest.start_memory_dirtier_with(how, DIRTIED_MIB).await?;
    }
    let started = Instant::now();
    let migrated = vm.migrate().await?;
    let migration = started.elapsed();
    rows.lock().unwrap().push(format!(
        "{memory:>6}  {:<12} {:>8.1} s  {:>10.1} s  {:?}",
        format!("{mode:?}"),
        boot.as_secs_f64(),
        migration.as_secs_f64(),
        migrated.mode
    ));
    Ok(())
}

fn main() {
    let sim = support::runs::qemu_cluster("bench-qemu");
    let rows: Rows = Arc::default();
    let cases = [
        ("1Gi", Mode::IdlePreCopy),
        ("1Gi", Mode::PostCopy),
        ("1Gi", Mode::Paused),
        ("2Gi", Mode::IdlePreCopy),
        ("2Gi", Mode::PostCopy),
        ("2Gi", Mode::Paused),
    ];
    for (memory, mode) in cases {
        let rows = rows.clone();
        let body = move |ctx: Ctx| measure(ctx, memory, mode, rows.clone()).boxed();
        let (outcome, log) = support::runs::run_one(&sim, support::runs::with_body(body));
        if outcome != Outcome::Passed {
            println!("{memory} {mode:?}: {outcome:?}\n{log}");
        }
    }
    println!("memory  mode         boot-to-SSH  migration  reported mode");
    for row in rows.lock().unwrap().iter() {
        println!("{row}");
    }
}

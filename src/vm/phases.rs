//! A migration to a chosen node, with the moments the harness saw each of its phases: the
//! marks of a stun-time timeline. The times are the harness's wall clock when a watch event
//! showed the phase (the API's own timestamps have whole seconds only), so they are what the
//! harness saw, a little after the fact.

use std::sync::Mutex;

use super::migration::{follow, request_to};
use super::{Migrated, Vm};
use crate::cluster::budget::Wait;
use crate::cluster::kinds;
use crate::cluster::wait::Watch;

/// (label, wall-clock seconds since the epoch) of each phase, in the order seen.
pub type Phases = Vec<(String, f64)>;

fn now() -> f64 {
    let now = chrono::Utc::now();
    now.timestamp() as f64 + f64::from(now.timestamp_subsec_micros()) / 1e6
}

/// Migrates `vm` to `node` (VMIM `spec.addedNodeSelector`), confirmed there, with its phases.
pub async fn migrate_seeing_phases(vm: &Vm, node: &str) -> anyhow::Result<(Migrated, Phases)> {
    let scope = vm.scope();
    let mark = vm.mark().await?;
    let seen = Mutex::new(vec![("requested".to_string(), now())]);
    let name = request_to(scope, &mark, node).await?;
    let note = |m: &serde_json::Value| {
        let phase = m["status"]["phase"].as_str().unwrap_or("");
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        if !phase.is_empty() && seen.iter().all(|(p, _)| p != phase) {
            seen.push((phase.to_string(), now()));
        }
        matches!(phase, "Succeeded" | "Failed")
    };
    let awaited = format!("migration {name} to end");
    let phases = Watch::object(scope.client(), kinds::VMIM, scope.ns(), &name).until_object(
        &awaited,
        scope.budget(Wait::Migration),
        note,
    );
    let (migrated, _) = tokio::join!(follow(scope, &mark, &name), phases);
    let migrated = migrated?;
    anyhow::ensure!(
        migrated.to == node,
        "{migrated} was asked to go to {node} (addedNodeSelector) but the VMI runs on {}",
        migrated.to
    );
    let phases = seen.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((migrated, phases))
}

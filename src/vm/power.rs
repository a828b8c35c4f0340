//! Stopping a VM and starting it again, as its owner does with `virtctl stop` / `start`: the
//! run strategy goes to Halted (KubeVirt deletes the VMI) and back to Always (a new VMI, a new
//! launcher pod, a new boot of the guest).

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::{Vm, Vmi};
use crate::cluster::budget::Wait;
use crate::cluster::kinds;
use crate::cluster::retry::{backoff, retrying};
use crate::cluster::wait::condition::{conditions, is, status_of};
use crate::cluster::wait::Watch;

impl Vm {
    /// Stops the VM (run strategy Halted) and waits until its VMI is gone.
    pub async fn stop(&self) -> anyhow::Result<()> {
        self.run_strategy("Halted").await?;
        let scope = &self.scope;
        Watch::object(scope.client(), kinds::VMI, scope.ns(), &self.name)
            .until_gone(
                &format!("VMI {} deleted after the stop", self.name),
                scope.budget(Wait::Deletion),
            )
            .await?;
        Ok(())
    }

    /// Starts the stopped VM again (run strategy Always) and waits, within the Boot budget,
    /// until a new VMI's guest agent connects and the guest lets the harness in again.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        let before = self.booted.metadata.uid.clone();
        self.run_strategy("Always").await?;
        let scope = &self.scope;
        let budget = scope.budget(Wait::boot(self.guest.os));
        let started = tokio::time::Instant::now();
        let booted = is(
            format!("a new VMI (not UID {before}) whose AgentConnected is True"),
            move |o| {
                o["metadata"]["uid"] != before.as_str()
                    && status_of(o, "AgentConnected") == Some("True")
            },
        );
        let vmi = Watch::object(scope.client(), kinds::VMI, scope.ns(), &self.name)
            .failing_on(conditions::phase("Failed"))
            .until_met(&booted, budget)
            .await
            .with_context(|| format!("VM {} did not boot again after the start", self.name))?;
        self.guest.reconnect().await;
        let pause = |attempt| scope.budgets.window(backoff(attempt));
        self.guest
            .reach(budget.saturating_sub(started.elapsed()), pause)
            .await
            .with_context(|| {
                format!(
                    "VM {} started again but its guest cannot be reached",
                    self.name
                )
            })?;
        self.booted = Vmi::from_value(&vmi)?;
        Ok(())
    }

    async fn run_strategy(&self, strategy: &str) -> anyhow::Result<()> {
        let api = kinds::VM.api(self.scope.client(), self.scope.ns());
        let patch = json!({"spec": {"runStrategy": strategy}});
        let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
        retrying(|| api.patch(&self.name, &params, &patch))
            .await
            .with_context(|| {
                format!(
                    "cannot set the run strategy of VM {} to {strategy}",
                    self.name
                )
            })?;
        Ok(())
    }
}

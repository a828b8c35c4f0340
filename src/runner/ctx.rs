//! What a scenario gets: its identity, its step log, its artifact folder, and (lazily) the
//! cluster, the namespaces it owns and the guests it talks to. Everything it creates through
//! the context is torn down by the runner after the body, whatever the outcome.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::shared::Shared;
use crate::cluster::build::Vm;
use crate::cluster::setups::Subnet;
use crate::cluster::vms::{self, Running};
use crate::cluster::{NamespaceKind, Scope, Target};
use crate::guest::access::Transcript;
use crate::guest::ssh::Login;
use crate::scenarios::GuestOs;

/// The step log of one scenario: each line stamped with the time since the scenario began.
#[derive(Debug)]
pub struct StepLog {
    started: Instant,
    lines: Mutex<Vec<String>>,
}

impl StepLog {
    pub fn new() -> StepLog {
        StepLog {
            started: Instant::now(),
            lines: Mutex::new(Vec::new()),
        }
    }

    pub fn push(&self, text: &str) {
        let line = format!("[{:>8.3}s] {text}", self.started.elapsed().as_secs_f64());
        lock(&self.lines).push(line);
    }

    pub fn render(&self) -> String {
        let mut out = lock(&self.lines).join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }
}

impl Default for StepLog {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a scenario left on the cluster, for the runner to collect and tear down.
#[derive(Default)]
pub(super) struct Owned {
    pub scopes: Mutex<Vec<Arc<Scope>>>,
    pub transcripts: Mutex<Vec<(String, Transcript)>>,
}

/// Handed to every scenario body. Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub(super) shared: Arc<Shared>,
    pub(super) trial: Arc<str>,
    pub(super) slug: &'static str,
    pub(super) artifacts: PathBuf,
    pub(super) log: Arc<StepLog>,
    pub(super) owned: Arc<Owned>,
}

impl Ctx {
    /// Records a step in the scenario's log (and so in JUnit `system-out`).
    pub fn step(&self, text: impl AsRef<str>) {
        self.log.push(text.as_ref());
    }

    pub fn run_id(&self) -> &str {
        &self.shared.config.run_id
    }

    pub fn trial(&self) -> &str {
        &self.trial
    }

    /// This scenario's artifact folder (created on first use by whoever writes there).
    pub fn artifacts(&self) -> &Path {
        &self.artifacts
    }

    /// The connected target, connecting it on first use.
    pub async fn target(&self) -> anyhow::Result<&Target> {
        self.shared.target().await
    }

    /// The cluster client, connecting the target on first use.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        Ok(self.target().await?.client.clone())
    }

    /// Creates the scenario's namespace; teardown removes it and everything registered in it.
    pub async fn scope(&self, kind: NamespaceKind) -> anyhow::Result<Arc<Scope>> {
        let target = self.target().await?;
        let scope = Scope::open(
            &target.client,
            self.run_id(),
            self.slug,
            kind,
            target.budgets,
        )
        .await?;
        let scope = Arc::new(scope);
        lock(&self.owned.scopes).push(scope.clone());
        self.step(format!("namespace {}", scope.ns()));
        Ok(scope)
    }

    /// An IP subnet no other scenario of this run uses.
    pub async fn subnet(&self) -> anyhow::Result<Subnet> {
        let profile = &self.target().await?.profile;
        let index = self
            .shared
            .subnets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Subnet::of(profile, index))
    }

    /// A VM builder for `os` with the target's image and the run's login key.
    pub async fn vm(&self, name: &str, os: GuestOs) -> anyhow::Result<Vm> {
        let target = self.target().await?;
        let profile = &target.profile;
        let (vm, user) = match os {
            GuestOs::Rhel => (
                Vm::rhel(name, profile.rhel_image.clone()),
                &profile.rhel_user,
            ),
            GuestOs::Windows => (
                Vm::windows(name, profile.windows_image.clone()),
                &profile.windows_user,
            ),
        };
        Ok(vm.with_login(user, target.key.public()))
    }

    /// Starts all `vms` at once and waits until every guest is up.
    pub async fn start_all(&self, scope: &Scope, vms: &[Vm]) -> anyhow::Result<Vec<Running>> {
        futures::future::try_join_all(vms.iter().map(|vm| self.start(scope, vm))).await
    }

    /// Creates `vm` in `scope` and waits until its guest is up; returns a logged-in handle.
    pub async fn start(&self, scope: &Scope, vm: &Vm) -> anyhow::Result<Running> {
        let target = self.target().await?;
        let login = Login {
            user: vm.login.as_ref().map_or("", |l| l.0.as_str()).to_string(),
            key: target.key.private_path().to_path_buf(),
            timeout: target.profile.ssh_timeout,
        };
        let running = vms::start(scope, vm, login).await?;
        lock(&self.owned.transcripts).push((vm.name.clone(), running.guest.transcript_handle()));
        self.step(format!("VM {} running on {}", vm.name, running.node()));
        Ok(running)
    }
}

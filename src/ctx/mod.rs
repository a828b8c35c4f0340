//! What a scenario gets: its identity, its step log, its artifact folder, and (lazily) the
//! cluster, the namespaces it owns and the VMs it starts. Everything it creates through the
//! context is given back by the runner after the body, whatever the outcome.

pub mod connection;
pub mod steps;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use connection::Connection;
use steps::StepLog;

use crate::cluster::budget::WaitLedger;
use crate::cluster::build::vm::MacSource;
use crate::cluster::build::VmSpec;
use crate::cluster::scope::{NamespaceKind, Scope};
use crate::cluster::setups::Subnet;
use crate::cluster::target::Target;
use crate::guest::access::Transcript;
use crate::guest::os::{Dirtier, GuestOs};
use crate::guest::ssh::Login;
use crate::vm::handle::Vm;

/// What a scenario left on the cluster, for the runner to collect and tear down.
#[derive(Default)]
pub struct Owned {
    pub scopes: Mutex<Vec<Arc<Scope>>>,
    /// The budgets of the waits the scenario started, which its own budget is made of.
    pub waits: Arc<WaitLedger>,
    pub transcripts: Mutex<Vec<(String, Transcript)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Handed to every scenario body. Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    connection: Arc<Connection>,
    trial: Arc<str>,
    slug: &'static str,
    artifacts: PathBuf,
    log: Arc<StepLog>,
    owned: Arc<Owned>,
}

impl Ctx {
    /// The context of trial `trial` (scenario `slug`), writing to `log` and recording what it
    /// creates in `owned`.
    pub fn new(
        connection: Arc<Connection>,
        trial: &str,
        slug: &'static str,
        artifacts: PathBuf,
        log: Arc<StepLog>,
        owned: Arc<Owned>,
    ) -> Ctx {
        Ctx {
            connection,
            trial: trial.into(),
            slug,
            artifacts,
            log,
            owned,
        }
    }

    /// Records a step in the scenario's log (and so in JUnit `system-out`).
    pub fn step(&self, text: impl AsRef<str>) {
        self.log.push(text.as_ref());
    }

    /// Reports a measurement as a JUnit property of this scenario's case (`<property
    /// name=… value=…>`), after the standard ones.
    pub fn property(&self, name: &str, value: impl AsRef<str>) {
        self.log.property(name, value.as_ref());
    }

    pub fn run_id(&self) -> &str {
        self.connection.run_id()
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
        Ok(&self.connection.get().await?.target)
    }

    /// The cluster client, connecting the target on first use.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        Ok(self.target().await?.client.clone())
    }

    /// The cluster's monitoring query API (thanos-querier), reached with the run's token.
    pub async fn monitoring(&self) -> anyhow::Result<crate::cluster::monitoring::Monitoring> {
        let target = self.target().await?;
        let token = target.bearer_token.as_deref();
        crate::cluster::monitoring::Monitoring::connect(&target.client, token, target.budgets).await
    }

    /// Creates the scenario's namespace; teardown removes it and everything registered in it.
    pub async fn scope(&self, kind: NamespaceKind) -> anyhow::Result<Arc<Scope>> {
        let target = self.target().await?;
        let (client, budgets) = (&target.client, target.budgets);
        let scope = Scope::unopened(client, self.run_id(), self.slug, budgets);
        let scope = Arc::new(scope.charging(self.owned.waits.clone()));
        // Owned before it exists: a signal may cancel the create after the server took it.
        lock(&self.owned.scopes).push(scope.clone());
        scope.create_namespace(kind).await?;
        self.step(format!("namespace {}", scope.ns()));
        Ok(scope)
    }

    /// An IP subnet no other scenario of this run uses.
    pub async fn subnet(&self) -> anyhow::Result<Subnet> {
        self.connection.subnet().await
    }

    /// A VM spec for `os` with the target's image, the run's login key and the run's MACs.
    pub async fn vm(&self, name: &str, os: GuestOs) -> anyhow::Result<VmSpec> {
        let connected = self.connection.get().await?;
        let profile = &connected.target.profile;
        let (spec, user) = match os {
            GuestOs::Rhel => (
                VmSpec::rhel(name, profile.rhel_image.clone()),
                &profile.rhel_user,
            ),
            GuestOs::Windows => {
                let spec = VmSpec::windows(name, profile.windows_image.clone());
                let spec = match &profile.windows_preference {
                    Some(preference) => spec.with_preference(preference),
                    None => spec,
                };
                (spec, &profile.windows_user)
            }
        };
        let macs = MacSource::new(connected.macs.clone(), &self.trial);
        Ok(spec
            .with_login(user, connected.key.public())
            .with_macs(macs))
    }

    /// What the target's settings use to keep a busy RHEL guest's memory dirty.
    pub async fn rhel_dirtier(&self) -> anyhow::Result<Dirtier> {
        Ok(self.connection.get().await?.target.profile.rhel_dirtier)
    }

    /// Starts all `specs` at once and waits until every guest is up.
    pub async fn start_all(&self, scope: &Arc<Scope>, specs: &[VmSpec]) -> anyhow::Result<Vec<Vm>> {
        futures::future::try_join_all(specs.iter().map(|spec| self.start(scope, spec))).await
    }

    /// Creates `spec` in `scope` and waits until its guest is up; returns the VM's handle.
    pub async fn start(&self, scope: &Arc<Scope>, spec: &VmSpec) -> anyhow::Result<Vm> {
        let connected = self.connection.get().await?;
        let profile = &connected.target.profile;
        let login = Login {
            user: spec.login.as_ref().map_or("", |l| l.0.as_str()).to_string(),
            key: connected.key.private_path().to_path_buf(),
            password: match spec.os {
                GuestOs::Windows => profile.windows_password.clone(),
                GuestOs::Rhel => None,
            },
            timeout: profile.ssh_timeout,
        };
        let vm = Vm::start(scope.clone(), spec, login).await?;
        lock(&self.owned.transcripts).push((spec.name.clone(), vm.guest.transcript_handle()));
        self.step(format!("VM {} running on {}", spec.name, vm.booted_on()));
        Ok(vm)
    }

    /// The run's SSH login key file, for tests that open their own guest session.
    pub async fn key_path(&self) -> anyhow::Result<PathBuf> {
        Ok(self
            .connection
            .get()
            .await?
            .key
            .private_path()
            .to_path_buf())
    }
}

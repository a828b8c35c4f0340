//! The VM handle: what a scenario starts and then acts on with the verbs of the STPs. Every
//! action that KubeVirt reacts to takes its own mark first, so the reaction is replayed from
//! the moment before it and a scenario cannot forget to take one.
//!
//! ```no_run
//! # async fn example(vm: vstp::vm::Vm) -> anyhow::Result<()> {
//! use vstp::vm::Change;
//!
//! let before = vm.capture().await?;
//! let swap = vm.change(Change::networks([("net1", "vlan20")])).await?;
//! let migrated = swap.live_update().await?; // MigrationRequired raised and cleared, migrated
//! assert_eq!(migrated.vmi.network_of("net1"), Some("vlan20"));
//! before.assert_preserved(&vm.guest, &migrated.vmi).await?; // no reboot, same MACs
//! # Ok(()) }
//! ```

use std::sync::Arc;

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};
use serde::Deserialize;
use serde_json::json;

use super::change::Change;
use super::invariants::Invariants;
use super::ipam::{self, IpamClaim};
use super::migration::{self, Mark, Migrated, Trigger};
use super::reaction::{template_has_interface, Reaction, QUIET_WINDOW};
use super::status::{Condition, InterfaceStatus, Vmi};
use crate::cluster::budget::Wait;
use crate::cluster::build::VmSpec;
use crate::cluster::datavolume;
use crate::cluster::drain;
use crate::cluster::kinds;
use crate::cluster::retry::{backoff, retrying};
use crate::cluster::scope::Scope;
use crate::cluster::wait::condition::{conditions, is};
use crate::cluster::wait::Watch;
use crate::guest::access::Guest;
use crate::guest::console::ConsoleLogin;
use crate::guest::os::GuestOs;
use crate::guest::ssh::Login;

/// A running VM whose guest answered, in the scenario's namespace.
pub struct Vm {
    scope: Arc<Scope>,
    name: String,
    pub guest: Guest,
    booted: Vmi,
}

impl Vm {
    /// Creates the VM of `spec` (and, for Windows, the Secret its key comes from) and waits
    /// until its root disk is cloned (a DataSource image), then until its guest agent connects, then until a login succeeds, all within the Boot
    /// budget; a VMI that fails on the way ends the wait at once. A guest that never lets the
    /// harness in is an environment problem (guest::environment), named with its last error.
    pub async fn start(scope: Arc<Scope>, spec: &VmSpec, login: Login) -> anyhow::Result<Vm> {
        let budget = scope.budget(Wait::boot(spec.os));
        let started = tokio::time::Instant::now();
        if spec.os == GuestOs::Windows {
            let key = spec.login.as_ref().map_or("", |l| l.1.as_str());
            let secret = json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": spec.key_secret()}, "stringData": {"key": key}});
            scope.create(kinds::SECRET, secret).await?;
        }
        scope.create(kinds::VM, spec.build()).await?;
        let name = spec.name.clone();
        if let Some(preference) = &spec.preference {
            super::preference::found(&scope, &name, preference, budget)
                .await
                .with_context(|| format!("VM {name} did not start"))?;
        }
        if let Some(disk) = spec.root_data_volume() {
            let left = budget.saturating_sub(started.elapsed());
            let cloned = datavolume::populated(scope.client(), scope.ns(), &disk, left).await;
            if let Err(e) = cloned {
                let failure = datavolume::vm_failure(scope.client(), scope.ns(), &name).await;
                let why = failure.map_or_else(String::new, |f| format!(" ({f})"));
                return Err(anyhow::Error::new(e)
                    .context(format!("VM {name}'s root disk {disk} was not cloned{why}")));
            }
        }
        let left = budget.saturating_sub(started.elapsed());
        let vmi = Watch::object(scope.client(), kinds::VMI, scope.ns(), &name)
            .failing_on(conditions::phase("Failed"))
            .until_met(&conditions::condition_true("AgentConnected"), left)
            .await
            .with_context(|| format!("VM {name} did not boot"))?;
        let timeout = login.timeout;
        let mut guest = Guest::new(scope.client(), scope.ns(), &name, spec.os, login);
        if let Some((user, password)) = spec.console_login() {
            let console = ConsoleLogin {
                user,
                password,
                timeout,
            };
            guest = guest.over_console(console);
        }
        // The pauses of the API calls' backoff, on the target's clock.
        let pause = |attempt| scope.budgets.window(backoff(attempt));
        guest
            .reach(budget.saturating_sub(started.elapsed()), pause)
            .await
            .with_context(|| format!("VM {name} booted but its guest cannot be reached"))?;
        Ok(Vm {
            booted: Vmi::from_value(&vmi)?,
            scope,
            name,
            guest,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The target's budget for `wait` (probes that wait for the guest use Reaction's).
    pub fn budget(&self, wait: Wait) -> std::time::Duration {
        self.scope.budget(wait)
    }

    /// The VMI as it was when the guest came up.
    pub fn booted(&self) -> &Vmi {
        &self.booted
    }

    /// The node the VM booted on.
    pub fn booted_on(&self) -> &str {
        self.booted.node()
    }

    /// The VMI as it is now.
    pub async fn vmi(&self) -> anyhow::Result<Vmi> {
        migration::read_vmi(&self.scope, &self.name).await
    }

    /// The IPAMClaim keeping this VM's addresses on its network `network`, if there is one.
    pub async fn ipam_claim(&self, network: &str) -> anyhow::Result<Option<IpamClaim>> {
        ipam::read(&self.scope, &ipam::claim_name(&self.name, network)).await
    }

    /// VM (not VMI) condition `kind` as it is now, if present.
    pub async fn vm_condition(&self, kind: &str) -> anyhow::Result<Option<Condition>> {
        let api = kinds::VM.api(self.scope.client(), self.scope.ns());
        let vm = retrying(|| api.get(&self.name))
            .await
            .with_context(|| format!("cannot read VM {}", self.name))?;
        let vm = kinds::to_value(&vm);
        let found = vm["status"]["conditions"].as_array().into_iter().flatten();
        let condition = found.filter_map(|c| Condition::deserialize(c).ok());
        Ok(condition.into_iter().find(|c| c.kind == kind))
    }

    /// Waits until the VMI status reports interface `name` attached to the domain (infoSource
    /// `domain`, with its MAC): a hot-plugged NIC gets there only after the migration that
    /// carries it has completed (upstream virt-handler `netstat.go` `UpdateStatus`).
    pub async fn interface_attached(&self, name: &str) -> anyhow::Result<InterfaceStatus> {
        let attached = |vmi: &Vmi| {
            let iface = vmi.interface(name)?;
            (iface.info_source.contains("domain") && iface.mac.is_some()).then(|| iface.clone())
        };
        let awaited = format!("interface {name} of {} attached to the domain", self.name);
        self.watch_vmi(&awaited, Wait::Reaction, attached).await
    }

    /// What virt-launcher did with hot-plugged NIC `name` once the migration that carries it
    /// completed: plugged it into the domain ([`Vm::interface_attached`]), or had libvirt
    /// refuse it, which virt-handler records as a Warning event `SyncFailed` on the VMI
    /// (upstream `pkg/virt-handler/vm.go`; `nichotplug.go` `hotplugVirtioInterface`).
    pub async fn nic_plug(&self, name: &str) -> anyhow::Result<NicPlug> {
        let uid = self.vmi().await?.metadata.uid;
        tokio::select! {
            attached = self.interface_attached(name) => Ok(NicPlug::Attached(attached?)),
            refused = self.sync_failed(&uid) => Ok(NicPlug::Refused(refused?)),
        }
    }

    /// The message of the first `SyncFailed` Warning event on VMI `uid`.
    async fn sync_failed(&self, uid: &str) -> anyhow::Result<String> {
        let scope = &self.scope;
        let fields = format!("involvedObject.uid={uid},reason=SyncFailed");
        let event = Watch::all(scope.client(), kinds::EVENT, scope.ns())
            .fields(&fields)
            .until_object(
                &format!("a SyncFailed event on VMI {}", self.name),
                scope.budget(Wait::Reaction),
                |e| e["type"] == "Warning",
            )
            .await?;
        Ok(event["message"].as_str().unwrap_or("").to_string())
    }

    /// Over a quiet window, interface `name` stays out of the domain: its status entry never
    /// gets a MAC nor `domain` among its sources.
    pub async fn interface_stays_unattached(&self, name: &str) -> anyhow::Result<()> {
        let scope = &self.scope;
        let iface = name.to_string();
        let unattached = is(
            format!("interface {name} stays out of the domain"),
            move |o| {
                Vmi::from_value(o).is_ok_and(|v| {
                    v.interface(&iface)
                        .is_none_or(|i| i.mac.is_none() && !i.info_source.contains("domain"))
                })
            },
        );
        let window = scope.budgets.window(QUIET_WINDOW);
        Watch::object(scope.client(), kinds::VMI, scope.ns(), &self.name)
            .keeps(&unattached, window)
            .await?;
        Ok(())
    }

    /// Waits until the VMI status reports at least `bytes` of guest memory (`guestCurrent`, set
    /// from the domain as the guest onlines hot-plugged memory, after the migration: upstream
    /// virt-handler `updateMemoryInfo`; upstream's own test allows it minutes).
    pub async fn guest_memory_reaches(&self, bytes: u64) -> anyhow::Result<u64> {
        let reached = |vmi: &Vmi| vmi.guest_memory_current().filter(|b| *b >= bytes);
        let awaited = format!(
            "status.memory.guestCurrent of {} to reach {bytes} bytes",
            self.name
        );
        self.watch_vmi(&awaited, Wait::Migration, reached).await
    }

    async fn watch_vmi<T>(
        &self,
        awaited: &str,
        budget: Wait,
        check: impl Fn(&Vmi) -> Option<T>,
    ) -> anyhow::Result<T> {
        let scope = &self.scope;
        let found = Watch::object(scope.client(), kinds::VMI, scope.ns(), &self.name)
            .failing_on(migration::vmi_lost(&self.booted.metadata.uid))
            .until(awaited, scope.budget(budget), |seen| {
                check(&Vmi::from_value(seen.get(&self.name)?).ok()?)
            })
            .await?;
        Ok(found)
    }

    /// Records what a live operation must keep (boot, sentinel process, MACs, VMI UID).
    pub async fn capture(&self) -> anyhow::Result<Invariants> {
        Invariants::capture(&self.guest, &self.vmi().await?).await
    }

    /// Makes `change` to the VM as a user editing it would; the reaction is watched from the
    /// moment before.
    pub async fn change(&self, change: Change) -> anyhow::Result<Reaction> {
        let mark = Mark::take(&self.scope, &self.name).await?;
        let api = kinds::VM.api(self.scope.client(), self.scope.ns());
        let current = retrying(|| api.get(&self.name))
            .await
            .with_context(|| format!("cannot read VM {}", self.name))?;
        let patch = change.patch(&kinds::to_value(&current))?;
        let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
        retrying(|| api.patch(&self.name, &params, &patch))
            .await
            .with_context(|| format!("cannot change VM {}: {change}", self.name))?;
        Ok(Reaction {
            scope: self.scope.clone(),
            mark,
            announced_by: announcement(&change),
        })
    }

    /// Makes `change`, which the API must refuse: returns the refusal's message and the
    /// reaction to watch for anything applied anyway.
    pub async fn refused(&self, change: Change) -> anyhow::Result<Refused> {
        let mark = Mark::take(&self.scope, &self.name).await?;
        match self.change(change.clone()).await {
            Ok(_) => anyhow::bail!("{} accepted a change it must refuse: {change}", self.name),
            Err(e) => Ok(Refused {
                message: format!("{e:#}"),
                reaction: Reaction {
                    scope: self.scope.clone(),
                    mark,
                    announced_by: None,
                },
            }),
        }
    }

    /// Whether the VM's template lists interface `iface` now.
    pub async fn template_has_interface(&self, iface: &str) -> anyhow::Result<bool> {
        let api = kinds::VM.api(self.scope.client(), self.scope.ns());
        let vm = retrying(|| api.get(&self.name))
            .await
            .with_context(|| format!("cannot read VM {}", self.name))?;
        Ok(template_has_interface(&kinds::to_value(&vm), iface))
    }

    /// Asks KubeVirt to migrate the VM and follows the migration to its confirmation.
    pub async fn migrate(&self) -> anyhow::Result<Migrated> {
        let mark = Mark::take(&self.scope, &self.name).await?;
        migration::migrate(&self.scope, &mark).await
    }

    /// A mark taken now, for migrations the caller requests and follows itself
    /// (see `migration::request_to`).
    pub async fn mark(&self) -> anyhow::Result<Mark> {
        Mark::take(&self.scope, &self.name).await
    }

    /// The VM's scope (namespace, client, budgets).
    pub fn scope(&self) -> &Arc<Scope> {
        &self.scope
    }

    /// Drains the node the VM runs on through the eviction API; the evacuation it causes is
    /// the reaction. Returns what the drain moved.
    pub async fn drain_its_node(&self) -> anyhow::Result<(drain::Drained, Reaction)> {
        let mark = Mark::take(&self.scope, &self.name).await?;
        let node = mark.vmi.node().to_string();
        let budget = self.scope.budget(Wait::Drain);
        let failed = migration::first_failure(&self.scope, &mark, Trigger::Evacuation);
        let drained = tokio::select! {
            drained = drain::drain(&self.scope, &node, budget) => drained?,
            failure = failed => return Err(failure),
        };
        let reaction = Reaction {
            scope: self.scope.clone(),
            mark,
            announced_by: None,
        };
        Ok((drained, reaction))
    }
}

/// What became of a hot-plugged NIC after the migration that carried it.
#[derive(Debug, Clone)]
pub enum NicPlug {
    /// In the domain, as the VMI status reports it.
    Attached(InterfaceStatus),
    /// Refused by libvirt: the SyncFailed event's message.
    Refused(String),
}

/// A change the API refused, with the reaction to watch from before it.
pub struct Refused {
    pub message: String,
    pub reaction: Reaction,
}

/// The VMI condition with which KubeVirt announces that `change` needs a migration.
fn announcement(change: &Change) -> Option<&'static str> {
    match change {
        Change::Networks(_) | Change::AddInterfaces(_) => Some("MigrationRequired"),
        Change::CpuSockets(_) => Some("HotVCPUChange"),
        Change::GuestMemory(_) => Some("HotMemoryChange"),
        Change::RemoveInterface(_) => None,
    }
}

#[path = "power.rs"]
mod power;

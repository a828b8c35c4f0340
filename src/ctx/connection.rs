//! A run's connection to its target, made once and lazily (listing and pending-only runs never
//! touch a cluster), with the SSH key every guest of the run trusts, the pool its NICs' MACs
//! come from and the subnets handed out to its scenarios.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::cluster::build::mac::MacPool;
use crate::cluster::kubemacpool;
use crate::cluster::setups::Subnet;
use crate::cluster::{Target, TargetOptions};
use crate::guest::key::RunKey;

/// The target once connected, the run's key and its MAC pool.
pub struct Connected {
    pub target: Target,
    pub key: RunKey,
    pub macs: Arc<MacPool>,
}

pub struct Connection {
    options: TargetOptions,
    run_id: String,
    connected: OnceCell<Result<Connected, String>>,
    subnets: AtomicU8,
}

impl Connection {
    pub fn new(options: TargetOptions, run_id: &str) -> Connection {
        Connection {
            options,
            run_id: run_id.into(),
            connected: OnceCell::new(),
            subnets: AtomicU8::new(0),
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Connects on first use. `run_id` names the run's SSH key directory, so
    /// `vstp cleanup --run-id` finds it after a kill.
    pub async fn get(&self) -> anyhow::Result<&Connected> {
        let connected = self
            .connected
            .get_or_init(|| async {
                let target = Target::connect(&self.options).await;
                let target = target.map_err(|e| format!("{e:#}"))?;
                let key = RunKey::generate(&self.run_id).map_err(|e| format!("{e:#}"))?;
                let (macs, origin) = kubemacpool::run_pool(&target.client, &self.run_id).await;
                eprintln!("vstp: {origin}");
                let macs = Arc::new(macs);
                Ok(Connected { target, key, macs })
            })
            .await;
        connected
            .as_ref()
            .map_err(|e| anyhow::anyhow!("cannot connect the {} target: {e}", self.options.target))
    }

    /// The seed of the in-process simulator, once the run has started it.
    pub fn sim_seed(&self) -> Option<u64> {
        self.connected.get()?.as_ref().ok()?.target.sim_seed
    }

    /// The in-process simulator's guests, once the run has started it.
    pub fn sim_guests(&self) -> Option<crate::cluster::guest_lane::Guests> {
        self.connected.get()?.as_ref().ok()?.target.sim_guests
    }

    /// An IP subnet no other scenario of this run uses.
    pub async fn subnet(&self) -> anyhow::Result<Subnet> {
        let profile = &self.get().await?.target.profile;
        Ok(Subnet::of(
            profile,
            self.subnets.fetch_add(1, Ordering::Relaxed),
        ))
    }
}

//! State shared by all trials of a run: configuration, results, runtime, target, interrupt.

use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use super::config::RunConfig;
use super::record::Recorder;
use crate::ctx::connection::Connection;

pub struct Shared {
    pub config: RunConfig,
    pub recorder: Recorder,
    pub runtime: tokio::runtime::Runtime,
    /// The target, connected by the first scenario that needs it.
    pub connection: Arc<Connection>,
    /// Ordinary scenarios hold it shared, disruptive ones exclusively.
    pub exclusive: RwLock<()>,
    /// Held by the scenario that is changing node networking.
    pub node_networking: std::sync::Mutex<()>,
    /// Becomes Some(signal name) on the first SIGINT/SIGTERM.
    pub interrupted: watch::Sender<Option<&'static str>>,
}

impl Shared {
    pub fn new(config: RunConfig, recorder: Recorder) -> std::io::Result<Arc<Shared>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let connection = Arc::new(Connection::new(config.target.clone(), &config.run_id));
        Ok(Arc::new(Shared {
            config,
            recorder,
            runtime,
            connection,
            exclusive: RwLock::new(()),
            node_networking: std::sync::Mutex::new(()),
            interrupted: watch::channel(None).0,
        }))
    }

    /// The seed of the in-process simulator, once the run has started it.
    pub fn sim_seed(&self) -> Option<u64> {
        self.connection.sim_seed()
    }

    /// The in-process simulator's guests, once the run has started it.
    pub fn sim_guests(&self) -> Option<crate::cluster::guest_lane::Guests> {
        self.connection.sim_guests()
    }

    pub fn interruption(&self) -> Option<&'static str> {
        *self.interrupted.borrow()
    }
}

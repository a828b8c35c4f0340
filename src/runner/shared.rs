//! State shared by all trials of a run: configuration, results, runtime, target, interrupt.

use std::sync::{Arc, RwLock};

use tokio::sync::{watch, OnceCell};

use super::record::Recorder;
use super::RunConfig;
use crate::cluster::Target;

pub struct Shared {
    pub config: RunConfig,
    pub recorder: Recorder,
    pub runtime: tokio::runtime::Runtime,
    target: OnceCell<Result<Target, String>>,
    /// Ordinary scenarios hold it shared, disruptive ones exclusively.
    pub exclusive: RwLock<()>,
    /// Held by the scenario that is changing node networking.
    pub node_networking: std::sync::Mutex<()>,
    /// Becomes Some(signal name) on the first SIGINT/SIGTERM.
    pub interrupted: watch::Sender<Option<&'static str>>,
    /// The next scenario subnet to hand out.
    pub subnets: std::sync::atomic::AtomicU8,
}

impl Shared {
    pub fn new(config: RunConfig, recorder: Recorder) -> std::io::Result<Arc<Shared>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        Ok(Arc::new(Shared {
            config,
            recorder,
            runtime,
            target: OnceCell::new(),
            exclusive: RwLock::new(()),
            node_networking: std::sync::Mutex::new(()),
            interrupted: watch::channel(None).0,
            subnets: std::sync::atomic::AtomicU8::new(0),
        }))
    }

    pub async fn target(&self) -> anyhow::Result<&Target> {
        let (options, run_id) = (&self.config.target, &self.config.run_id);
        let connected = self
            .target
            .get_or_init(|| async {
                Target::connect(options, run_id)
                    .await
                    .map_err(|e| format!("{e:#}"))
            })
            .await;
        connected
            .as_ref()
            .map_err(|e| anyhow::anyhow!("cannot connect the {} target: {e}", options.target))
    }

    /// The seed of the in-process simulator, once the run has started it.
    pub fn sim_seed(&self) -> Option<u64> {
        self.target.get()?.as_ref().ok()?.sim_seed
    }

    pub fn interruption(&self) -> Option<&'static str> {
        *self.interrupted.borrow()
    }
}

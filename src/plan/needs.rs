//! What a scenario needs from the cluster; preflight turns unmet needs into skips.

/// Workers, spare NICs and product features one scenario needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub workers: u8,
    /// Spare NICs per worker for Linux bridges (0 = none).
    pub secondary_nics: u8,
    pub features: &'static [Feature],
}

impl Needs {
    /// Two schedulable workers and one spare NIC on each: the shape of every bridge scenario.
    pub const fn bridge(features: &'static [Feature]) -> Needs {
        Needs {
            workers: 2,
            secondary_nics: 1,
            features,
        }
    }

    /// Two schedulable workers to migrate between.
    pub const fn migration(features: &'static [Feature]) -> Needs {
        Needs {
            workers: 2,
            secondary_nics: 0,
            features,
        }
    }
}

/// A product capability preflight checks before a scenario that uses it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Feature {
    LiveUpdateNadRef,
    Localnet,
    PrimaryUdn,
    /// A primary-UDN address chosen by the VM owner.
    RequestedUdnAddress,
    NicHotplug,
    CpuHotplug,
    MemoryHotplug,
    WorkloadDisruptionPolicy,
    WindowsImage,
    NonMigratableStorage,
    /// Cordoning a node and evicting its pods.
    NodeDrain,
}

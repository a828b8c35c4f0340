//! The VM handle between scenarios and the mechanics below: typed changes, the typed VMI,
//! expected migrations confirmed as upstream confirms them, and the guest. A scenario says
//! what the STP says (`vm.change(Change::CpuSockets(2))`, `reaction.live_update()`) and never
//! reads or patches JSON itself.

pub mod change;
pub mod handle;
pub mod invariants;
pub mod ipam;
pub mod migration;
pub mod phases;
pub mod preference;
pub mod reaction;
pub mod status;

pub use change::Change;
pub use handle::{NicPlug, Refused, Vm};
pub use invariants::Invariants;
pub use ipam::IpamClaim;
pub use migration::{Ended, Migrated, Trigger};
pub use reaction::Reaction;
pub use status::{MigrationMode, Vmi};

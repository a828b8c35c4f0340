//! Mechanics that talk to a cluster: the target, kinds, watch-based waits and their budgets,
//! retrying API calls, what a scenario owns and how it is torn down, node operations, and the
//! builders of the objects scenarios create.

pub mod budget;
pub mod build;
pub mod cordon;
pub mod datavolume;
pub mod drain;
pub mod guest_lane;
pub mod kinds;
pub mod kubeconfig;
pub mod kubemacpool;
pub mod monitoring;
pub mod nic_safety;
pub mod nmstate;
pub mod nodes;
pub mod polarion;
pub mod preflight;
pub mod profile;
pub mod proxy;
pub mod retry;
pub mod scope;
pub mod settings;
pub mod setups;
pub mod sweep;
pub mod target;
pub mod teardown;
pub mod usable;
pub mod wait;

pub use budget::{Budgets, Wait};
pub use profile::Profile;
pub use scope::{NamespaceKind, Scope};
pub use target::{Target, TargetKind, TargetOptions};

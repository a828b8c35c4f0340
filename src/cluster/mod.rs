//! Mechanics that talk to a cluster. Today: choosing and connecting the target.

pub mod target;

pub use target::{Target, TargetKind, TargetOptions};

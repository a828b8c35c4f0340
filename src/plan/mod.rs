//! The plan layer: what the STPs ask for and which scenario declares each row. With `stp` and
//! `catalog` it knows nothing of Kubernetes, the runner or scenario bodies (tests/layers.rs
//! keeps it that way); a body is attached to its declaration in `scenarios`, never the other
//! way round.

pub mod declaration;
pub mod needs;

pub use declaration::{row, Declaration, ManualRow};
pub use needs::{Feature, Needs};

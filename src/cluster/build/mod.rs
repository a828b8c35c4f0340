//! Typed builders: every object a scenario creates is made from small named options, never
//! from YAML templated in a scenario. They start from the YAML bases in `manifests/`.

mod bases;
pub mod mac;
pub mod net;
pub mod nic;
pub mod policy;
pub mod storage;
pub mod vm;

pub use net::{
    bridge_nad, localnet_nad, ovs_bridge_mapping, primary_cudn, primary_udn, trunk_bridge, Trunk,
};
pub use policy::MigrationPolicy;
pub use vm::{Binding, Image, Network, Nic, VmSpec};

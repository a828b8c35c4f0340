//! vstp: turns Software Test Plan rows into executable KubeVirt / OpenShift Virtualization
//! scenarios and reports them as JUnit with Polarion IDs. See `DESIGN.md` for the map.

pub mod catalog;
pub mod cli;
pub mod cluster;
pub mod ctx;
pub mod guest;
pub mod plan;
pub mod runner;
pub mod scenarios;
pub mod stp;
pub mod vm;

//! The scenario registry: one module per STP, each declaring its scenarios beside the STP row
//! they automate and attaching their bodies. A newcomer finds a scenario by its STP file name
//! and row number.

mod hotpluggable_nad_ref;
mod ip_request;
mod nic_hotplug;
mod primary_udn_migration;
pub mod scenario;
mod stuntime_measurement;
mod workload_disruption_migration;

pub use scenario::{Attach, Body, Scenario};

use crate::plan::ManualRow;

/// Every scenario vstp knows, in STP order.
pub fn all() -> Vec<Scenario> {
    [
        hotpluggable_nad_ref::scenarios(),
        workload_disruption_migration::scenarios(),
        nic_hotplug::scenarios(),
        primary_udn_migration::scenarios(),
        ip_request::scenarios(),
        stuntime_measurement::scenarios(),
    ]
    .concat()
}

/// The declarations alone, for the catalogue.
pub fn declarations() -> Vec<crate::plan::Declaration> {
    all().into_iter().map(|s| s.decl).collect()
}

/// Rows that stay manual, each with the reason a QE lead signs.
pub const MANUAL: &[ManualRow] = &[ip_request::MANUAL];

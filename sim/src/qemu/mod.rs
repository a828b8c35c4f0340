//! The real-guest lane (`--guests qemu`): each Linux VMI's guest is a real kernel in a qemu
//! process (TCG), started, watched and ended by the simulator as virt-launcher does with its
//! libvirt domain: its migrations, hotplugs and L2 fabric are real. The emulated guest model
//! stays beside it as the world's record (segments, addresses, migration state) and answers
//! for what the lane does not make real (guest-to-guest traffic behind masquerade, IPv6 on a
//! primary UDN, the product-regression faults); the harness's SSH sessions, the guest agent's
//! connection and what the harness reads in the guest come from the real kernel.

use std::sync::Arc;

pub mod dhcp;
pub mod gateway;
pub mod hotplug;
pub mod image;
pub mod lane;
pub mod machine;
pub mod qmp;
pub mod spec;
pub mod switch;

pub use image::BootImage;
pub use lane::Lane;
pub use machine::Machine;
pub use spec::MachineSpec;

/// Which guests the simulator runs.
#[derive(Debug, Clone, Default)]
pub enum Guests {
    /// Every guest is the emulated model (the default: fast, no qemu needed).
    #[default]
    Emulated,
    /// Linux guests are real (Windows ones stay emulated: no image can be had).
    Qemu(Arc<Lane>),
}

impl Guests {
    pub fn lane(&self) -> Option<&Arc<Lane>> {
        match self {
            Guests::Emulated => None,
            Guests::Qemu(lane) => Some(lane),
        }
    }

    /// The name the settings and flags use: `emulated` or `qemu`.
    pub fn name(&self) -> &'static str {
        match self {
            Guests::Emulated => "emulated",
            Guests::Qemu(_) => "qemu",
        }
    }
}

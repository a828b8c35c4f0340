//! The guest operating systems vstp speaks to. A leaf: the plan layer names a scenario's guest
//! OS with it, so it imports nothing.

/// Which dialect a guest speaks: bash and coreutils on RHEL, PowerShell over Win32-OpenSSH on
/// Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum GuestOs {
    Rhel,
    Windows,
}

/// What keeps a RHEL guest's memory dirty so a pre-copy migration cannot converge (settings
/// `guest.rhel_memory_dirtier`; the commands are in guest/linux.rs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dirtier {
    /// An endless loop of coreutils' dd rewriting a file on tmpfs (`/dev/shm`): needs nothing
    /// beyond the image.
    #[default]
    Coreutils,
    /// `stress-ng --vm 1 --vm-keep`: needs the stress-ng package, which a RHEL 9 KVM guest
    /// image does not have.
    StressNg,
}

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
    /// python3 (cloud-init's, in every RHEL cloud image) rewriting one byte of every page of a
    /// buffer, round after round: one store per page and no system call, so it outruns a
    /// migration even on a slow vCPU (qemu's TCG, two guests sharing a core).
    #[default]
    Python,
    /// An endless loop of coreutils' dd copying /dev/urandom onto a file on tmpfs
    /// (`/dev/shm`): it pays for random bytes and a system call per MiB, which a slow vCPU
    /// cannot afford.
    Coreutils,
    /// `stress-ng --vm 1 --vm-keep`: needs the stress-ng package, which a RHEL 9 KVM guest
    /// image does not have.
    StressNg,
}

//! The guest operating systems vstp speaks to. A leaf: the plan layer names a scenario's guest
//! OS with it, so it imports nothing.

/// Which dialect a guest speaks: bash and coreutils on RHEL, PowerShell over Win32-OpenSSH on
/// Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum GuestOs {
    Rhel,
    Windows,
}

//! A command line as the guest's shell receives it from sshd: bash on Linux (guest/posix),
//! PowerShell on Windows (guest/windows).

use super::command::Output;
use super::{lock, GuestRef, Network, Os};

/// Runs a command line in `guest` as its shell would.
pub fn run(guest: &GuestRef, net: &dyn Network, line: &str) -> Output {
    if lock(guest).os == Os::Windows {
        return super::windows::run(guest, net, line);
    }
    super::posix::run(guest, net, line)
}

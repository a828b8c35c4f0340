//! A command line as the guest's shell receives it from sshd: bash on Linux (guest/posix),
//! PowerShell on Windows (guest/windows).

use super::command::Output;
use super::words::split;
use super::{lock, GuestRef, Network, Os};

/// Runs a command line in `guest` as its shell would.
pub fn run(guest: &GuestRef, net: &dyn Network, line: &str) -> Output {
    let os = lock(guest).os;
    if os == Os::Linux {
        return super::posix::run(guest, net, line);
    }
    match split(line) {
        Ok(words) => super::windows::run(guest, net, &words, line),
        Err(e) => Output::fail(2, format!("bash: -c: line 1: {e}\n")),
    }
}

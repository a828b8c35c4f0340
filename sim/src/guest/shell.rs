//! A command line as the guest's shell receives it from sshd: bash on Linux (guest/posix),
//! PowerShell on Windows (guest/windows).

use std::sync::Arc;

use super::command::Output;
use super::{lock, GuestRef, Network, Os};

/// Runs a command line in `guest` as its shell would.
pub fn run(guest: &GuestRef, net: &dyn Network, line: &str) -> Output {
    if lock(guest).os == Os::Windows {
        return super::windows::run(guest, net, line);
    }
    super::posix::run(guest, net, line)
}

/// [`run`] on a blocking thread: a command that takes time in the guest (a ping of several
/// echoes) waits on the guest's scaled clock without holding up the runtime's workers.
pub async fn run_async(guest: GuestRef, net: Arc<dyn Network>, line: String) -> Output {
    let (g, n) = (guest.clone(), net.clone());
    match tokio::task::spawn_blocking(move || run(&g, &*n, &line)).await {
        Ok(out) => out,
        Err(e) => Output::fail(1, format!("the guest's shell failed: {e}\n")),
    }
}

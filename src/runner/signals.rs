//! SIGINT/SIGTERM: the first one cancels running scenarios so their teardown runs and JUnit is
//! written as usual; a second one writes JUnit at once and exits.

use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use super::shared::Shared;

pub fn install(shared: Arc<Shared>) -> std::io::Result<Handle> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            if shared.interruption().is_none() {
                eprintln!("vstp: {name}: cancelling running scenarios and cleaning up; send it again to stop at once");
                shared.interrupted.send_replace(Some(name));
                continue;
            }
            let cases = shared.recorder.snapshot();
            if let Err(e) = super::write_junit(&shared, &cases) {
                eprintln!("vstp: cannot write JUnit: {e}");
            }
            eprintln!(
                "vstp: stopped by a second {name}; JUnit at {}",
                shared.config.junit_path.display()
            );
            crate::guest::key::remove_all();
            std::process::exit(128 + signal);
        }
    });
    Ok(handle)
}

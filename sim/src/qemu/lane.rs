//! What the real guests of a lane share: the qemu binary (new enough), the image, the
//! slots that bound how many run at once, and the folder their sockets and logs live in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::image::BootImage;

/// What the real guests share: the qemu binary, the image, and the slots that bound how many
/// run at once.
#[derive(Debug)]
pub struct Lane {
    pub qemu: PathBuf,
    pub image: BootImage,
    pub max_machines: usize,
    pub(super) slots: Arc<Semaphore>,
    /// The L2 fabric the machines' secondary NICs are plugged into.
    pub switch: Arc<super::switch::Switch>,
    /// Numbers migration targets' folders apart from their source's.
    serial: std::sync::atomic::AtomicU64,
    /// Each machine's sockets and logs live in a folder here, removed with the machine.
    runtime: PathBuf,
}

impl Lane {
    /// A lane with at most `max_machines` qemu processes at once. Fails, naming the package,
    /// when qemu is not installed.
    pub fn new(image: BootImage, max_machines: usize) -> Result<Lane, String> {
        let qemu = find_qemu()?;
        let temp = std::env::temp_dir();
        sweep_dead_lanes(&temp);
        let runtime = temp.join(format!("{RUNTIME_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&runtime).map_err(|e| format!("{}: {e}", runtime.display()))?;
        let max_machines = max_machines.max(1);
        Ok(Lane {
            qemu,
            image,
            max_machines,
            slots: Arc::new(Semaphore::new(max_machines)),
            switch: Default::default(),
            serial: Default::default(),
            runtime,
        })
    }

    pub(super) fn next_serial(&self) -> u64 {
        self.serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn runtime_dir(&self, id: &str) -> Result<PathBuf, String> {
        let dir = self.runtime.join(id);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(dir)
    }
}

/// Each lane's folder is `vstp-qemu-<pid>` in the temporary directory.
const RUNTIME_PREFIX: &str = "vstp-qemu-";

/// Removes the folders of lanes whose process is gone: a simulator killed outright (SIGKILL,
/// OOM) cannot remove its own, so the next lane does. A folder whose process still runs, or
/// whose name is not a lane's, stays.
fn sweep_dead_lanes(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(RUNTIME_PREFIX))
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.runtime);
    }
}

const QEMU: &str = "qemu-system-x86_64";

/// The oldest qemu whose TCG stores always reach the migration dirty bitmap: before 9.0 a
/// pre-copy migration of a busy TCG guest lost writes and the guest died on the target
/// (QEMU commit "physmem: Fix migration dirty bitmap coherency with TCG memory access";
/// the lane saw "Kernel stack is corrupted" panics with 7.2).
const OLDEST_QEMU: u32 = 9;

fn find_qemu() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let qemu = std::env::split_paths(&path)
        .map(|dir| dir.join(QEMU))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| missing_qemu(Path::new(QEMU)))?;
    let out = std::process::Command::new(&qemu)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", qemu.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match major_version(&text) {
        Some(major) if major >= OLDEST_QEMU => Ok(qemu),
        _ => Err(format!(
            "{} is {:?}; the real-guest lane needs qemu {OLDEST_QEMU}.0 or later, since older \
             TCG loses guest writes during pre-copy migrations: on Debian 12 install \
             qemu-system-x86 from bookworm-backports (ci/setup.sh does)",
            qemu.display(),
            text.lines().next().unwrap_or("")
        )),
    }
}

/// `QEMU emulator version 10.0.2 (…)` → 10.
fn major_version(text: &str) -> Option<u32> {
    let version = text
        .lines()
        .next()?
        .strip_prefix("QEMU emulator version ")?;
    version.split('.').next()?.parse().ok()
}

pub(super) fn missing_qemu(qemu: &Path) -> String {
    format!(
        "{} is not installed, and the real-guest lane (--guests qemu) needs it: install the \
         package qemu-system-x86 (Debian/Ubuntu; qemu-kvm on RHEL/Fedora), as ci/setup.sh does",
        qemu.display()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_major_version_is_read_from_qemus_banner() {
        let banner = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n";
        assert_eq!(super::major_version(banner), Some(10));
        assert_eq!(
            super::major_version("QEMU emulator version 7.2.22 (Debian)"),
            Some(7)
        );
        assert_eq!(super::major_version("qemu-img version 10.0.2"), None);
    }

    #[test]
    fn a_dead_simulators_folder_is_swept_and_a_living_ones_stays() {
        let temp = std::env::temp_dir().join(format!("vstp-sweep-test-{}", std::process::id()));
        // Linux's PID_MAX_LIMIT is 2^22: no process can have this one.
        let dead = temp.join("vstp-qemu-4194305");
        let living = temp.join(format!("vstp-qemu-{}", std::process::id()));
        let not_a_lane = temp.join("vstp-qemu-notes");
        for dir in [&dead, &living, &not_a_lane] {
            std::fs::create_dir_all(dir.join("machine")).expect("a folder");
        }
        super::sweep_dead_lanes(&temp);
        let kept = |dir: &std::path::Path| dir.exists();
        let seen = (kept(&dead), kept(&living), kept(&not_a_lane));
        let _ = std::fs::remove_dir_all(&temp);
        assert_eq!(seen, (false, true, true), "(dead, living, not a lane) kept");
    }
}

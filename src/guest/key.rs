//! The run's own SSH key: a fresh ed25519 pair per run, the private half written with 0600
//! permissions in a 0700 directory outside the artifacts (which CI uploads), removed when the
//! run ends. Only the public half ever goes into cluster objects; neither half is logged.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, PrivateKey};

const KEY_DIR_PREFIX: &str = "vstp-key-";

/// Key directories of this process not removed yet: a run's key is shared through the run's
/// state, which a thread may still hold when the process ends, so the drop alone is not
/// enough; [`remove_all`] runs at the end of every command.
static LIVE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes every key directory this process made and has not removed yet.
pub fn remove_all() {
    for dir in live().drain(..) {
        let _ = fs::remove_dir_all(dir);
    }
}

/// Removes the key directory of run `run_id` (at the end of the run: other runs of the same
/// process keep theirs).
pub fn remove_of_run(run_id: &str) {
    let prefix = format!("{KEY_DIR_PREFIX}{run_id}-");
    live().retain(|dir| {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ours = name.starts_with(&prefix);
        if ours {
            let _ = fs::remove_dir_all(dir);
        }
        !ours
    });
}

/// Key directories a killed run left in the temporary directory: those of run `run_id`, or
/// (without one) those not touched for longer than `older_than`. Removes them and says which.
pub fn remove_leftovers(
    run_id: Option<&str>,
    older_than: Option<std::time::Duration>,
) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return Vec::new();
    };
    let selected = |path: &Path| -> bool {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(rest) = name.strip_prefix(KEY_DIR_PREFIX) else {
            return false;
        };
        match (run_id, older_than) {
            (Some(id), _) => rest
                .strip_prefix(id)
                .is_some_and(|pid| pid.starts_with('-')),
            (None, Some(age)) => fs::metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|e| e > age)),
            (None, None) => false,
        }
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| selected(p))
        .filter(|p| fs::remove_dir_all(p).is_ok())
        .collect()
}

pub struct RunKey {
    dir: PathBuf,
    private: PathBuf,
    public: String,
}

impl RunKey {
    /// Generates the key of run `run_id` below the system temporary directory.
    pub fn generate(run_id: &str) -> anyhow::Result<RunKey> {
        let dir =
            std::env::temp_dir().join(format!("{KEY_DIR_PREFIX}{run_id}-{}", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create the key directory {}", dir.display()))?;
        let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
            .context("cannot generate an ed25519 key")?;
        let text = key
            .to_openssh(LineEnding::LF)
            .context("cannot encode the run's private key")?;
        let private = dir.join("id_ed25519");
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&private)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("cannot write the run's key to {}", private.display()))?;
        let public = key
            .public_key()
            .to_openssh()
            .context("cannot encode the run's public key")?;
        live().push(dir.clone());
        Ok(RunKey {
            dir,
            private,
            public: format!("{public} vstp-{run_id}"),
        })
    }

    pub fn private_path(&self) -> &Path {
        &self.private
    }

    /// The OpenSSH public key line, for cloud-init or an access-credentials Secret.
    pub fn public(&self) -> &str {
        &self.public
    }
}

impl Drop for RunKey {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        live().retain(|d| d != &self.dir);
    }
}

impl std::fmt::Debug for RunKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunKey")
            .field("private", &self.private)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_private_key_is_readable_only_by_its_owner_and_gone_after_the_run() {
        let key = RunKey::generate("test-run").unwrap();
        let path = key.private_path().to_path_buf();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert!(key.public().starts_with("ssh-ed25519 "), "{}", key.public());
        assert!(!format!("{key:?}").contains("OPENSSH"));
        drop(key);
        assert!(!path.exists());
    }

    #[test]
    fn a_runs_end_removes_its_key_even_when_the_key_is_still_held() {
        let held = RunKey::generate("ended-run").unwrap();
        let other = RunKey::generate("running-run").unwrap();
        remove_of_run("ended-run");
        assert!(!held.private_path().exists());
        assert!(other.private_path().exists());
    }

    #[test]
    fn a_killed_runs_key_directory_is_found_by_its_run_id() {
        let key = RunKey::generate("killed-run-1").unwrap();
        let other = RunKey::generate("killed-run-10").unwrap();
        let dir = key.private_path().parent().unwrap().to_path_buf();
        std::mem::forget(key);
        assert_eq!(
            remove_leftovers(Some("killed-run-1"), None),
            vec![dir.clone()]
        );
        assert!(!dir.exists());
        assert!(other.private_path().exists());
    }
}

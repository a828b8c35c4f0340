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

pub struct RunKey {
    dir: PathBuf,
    private: PathBuf,
    public: String,
}

impl RunKey {
    /// Generates the key of run `run_id` below the system temporary directory.
    pub fn generate(run_id: &str) -> anyhow::Result<RunKey> {
        let dir = std::env::temp_dir().join(format!("vstp-key-{run_id}-{}", std::process::id()));
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
}

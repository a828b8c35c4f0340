//! The guest's sshd: a russh server on the port-forward stream. Public-key authentication
//! against the guest's users, and password authentication where the image allows it (the
//! Windows images' Administrator); `exec` runs a command line in the guest's dialect.

use std::sync::Arc;

use russh::keys::{Algorithm, PrivateKey, PublicKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};

use super::shell;
use super::{lock, GuestRef, Network};
use crate::world::GuestStream;

/// sshd's configuration, with a host key made once per simulator.
pub fn config() -> Arc<russh::server::Config> {
    let key =
        PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).expect("ed25519 keys generate");
    Arc::new(russh::server::Config {
        keys: vec![key],
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
        auth_rejection_time: std::time::Duration::from_millis(5),
        auth_rejection_time_initial: Some(std::time::Duration::from_millis(0)),
        inactivity_timeout: Some(std::time::Duration::from_secs(600)),
        ..Default::default()
    })
}

/// Serves one SSH connection to `guest` on `stream` until the client leaves.
pub fn serve(
    config: Arc<russh::server::Config>,
    stream: Box<dyn GuestStream>,
    guest: GuestRef,
    net: Arc<dyn Network>,
) {
    // The connection runs through the source virt-launcher: a migration cuts it, as on a
    // cluster, and so does the guest going down (Guest::go_down). russh owns its end, so the
    // cut happens on a relay in between.
    let mut cut = lock(&guest).cuts.subscribe();
    let (sshd_end, mut relay_end) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let mut stream = stream;
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut stream, &mut relay_end) => {}
            _ = cut.changed() => {}
        }
    });
    tokio::spawn(async move {
        let handler = Sshd { guest, net };
        if let Ok(session) = russh::server::run_stream(config, sshd_end, handler).await {
            let _ = session.await;
        }
    });
}

/// The seconds of a command line that is only `sleep N`.
fn foreground_sleep(line: &str) -> Option<f64> {
    match line.split_whitespace().collect::<Vec<_>>()[..] {
        ["sleep", n] => n.parse().ok().filter(|s: &f64| s.is_finite() && *s >= 0.0),
        _ => None,
    }
}

struct Sshd {
    guest: GuestRef,
    net: Arc<dyn Network>,
}

fn authorized(guest: &GuestRef, user: &str, key: &PublicKey) -> bool {
    lock(guest)
        .users
        .get(user)
        .is_some_and(|keys| keys.iter().any(|k| k.key_data() == key.key_data()))
}

/// Whether `password` is the image's password of `user`: Win32-OpenSSH hands it to Windows'
/// logon (account names case-insensitive, passwords not) from openssh-portable auth-passwd.c
/// `auth_password` (PowerShell/openssh-portable, the Windows port).
fn password_accepted(guest: &GuestRef, user: &str, password: &str) -> bool {
    let distro = lock(guest).distro;
    distro.image_password == Some(password) && distro.default_user.eq_ignore_ascii_case(user)
}

/// The methods a refused client may go on with: on the Linux cloud images cloud-init leaves
/// `PasswordAuthentication no` (their cloud.cfg `ssh_pwauth: 0`; cloud-init cc_set_passwords.py
/// `handle_ssh_pwauth`), so only keys; Win32-OpenSSH's default sshd_config allows passwords
/// (openssh-portable servconf.c `fill_default_server_options`).
fn remaining_methods(guest: &GuestRef) -> Option<MethodSet> {
    let passwords = lock(guest).distro.image_password.is_some();
    (!passwords).then(|| MethodSet::from(&[MethodKind::PublicKey][..]))
}

impl russh::server::Handler for Sshd {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if authorized(&self.guest, user, key.public_key) {
            Auth::Accept
        } else {
            Auth::Reject {
                proceed_with_methods: remaining_methods(&self.guest),
                partial_success: false,
            }
        })
    }

    /// A wrong password is an SSH_MSG_USERAUTH_FAILURE, as any other refusal ("Permission
    /// denied" to OpenSSH's client); an image without passwords refuses every one (openssh-
    /// portable auth2-passwd.c `userauth_passwd`).
    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(if password_accepted(&self.guest, user, password) {
            Auth::Accept
        } else {
            Auth::Reject {
                proceed_with_methods: remaining_methods(&self.guest),
                partial_success: false,
            }
        })
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let line = String::from_utf8_lossy(data).to_string();
        if let Some(seconds) = foreground_sleep(&line) {
            // A command that takes time keeps the channel open meanwhile (on the scaled clock),
            // so a client's command timeout can be exercised.
            session.channel_success(channel)?;
            let real = seconds / lock(&self.guest).time_scale().max(1.0);
            let handle = session.handle();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs_f64(real)).await;
                let _ = handle.exit_status_request(channel, 0).await;
                let _ = handle.eof(channel).await;
                let _ = handle.close(channel).await;
            });
            return Ok(());
        }
        // The answer comes when the command ends, which may take guest time (a ping).
        session.channel_success(channel)?;
        let handle = session.handle();
        let (guest, net) = (self.guest.clone(), self.net.clone());
        tokio::spawn(async move {
            let out = shell::run_async(guest, net, line).await;
            if !out.stdout.is_empty() {
                let _ = handle.data(channel, out.stdout.into_bytes()).await;
            }
            if !out.stderr.is_empty() {
                let _ = handle
                    .extended_data(channel, 1, out.stderr.into_bytes())
                    .await;
            }
            let _ = handle.exit_status_request(channel, out.code).await;
            let _ = handle.eof(channel).await;
            let _ = handle.close(channel).await;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::guest::{distro, testing};

    /// Reads the client's end until the server ends it; `None` when it is still open after
    /// `budget`.
    async fn ended_within(stream: &mut tokio::io::DuplexStream, budget: Duration) -> Option<()> {
        let mut buf = [0u8; 4096];
        tokio::time::timeout(budget, async {
            while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        })
        .await
        .ok()
    }

    #[tokio::test]
    async fn a_connection_ends_when_the_guest_goes_down() {
        let guest = testing::booted(&distro::RHEL_9, "g", "default", "02:00:00:00:00:01");
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        serve(
            config(),
            Box::new(ours),
            guest.clone(),
            Arc::new(testing::Nowhere),
        );
        // Still open while the guest runs: sshd's banner, then it waits for the client.
        let open = ended_within(&mut theirs, Duration::from_millis(200)).await;
        assert!(open.is_none(), "the connection ended with the guest up");
        lock(&guest).go_down();
        let ended = ended_within(&mut theirs, Duration::from_secs(5)).await;
        assert!(ended.is_some(), "the connection outlived the guest");
    }
}

//! An SSH session to a guest over a port-forward [`Tunnel`], authenticated with a private key
//! file or, where the image has one (Windows golden images), the account's password. libssh2
//! is blocking, so every call runs on tokio's blocking pool.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::tunnel::{self, Tunnel, TunnelError};
use super::Output;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
    #[error("SSH to {target} failed while {doing}: {source}")]
    Session {
        target: String,
        doing: &'static str,
        source: ssh2::Error,
    },
    #[error("SSH to {target} failed while {doing}: {source}")]
    Io {
        target: String,
        doing: &'static str,
        source: std::io::Error,
    },
    #[error("SSH to {target}: the key {key} was refused for user {user}; check the key the VM was given (cloud-init or accessCredentials)")]
    Refused {
        target: String,
        user: String,
        key: PathBuf,
    },
    #[error("SSH to {target}: the password was refused for user {user}; set guest.windows_password (or VSTP_WINDOWS_PASSWORD) to the password the image was built with")]
    PasswordRefused { target: String, user: String },
}

impl SshError {
    /// Whether libssh2 gave up waiting (its session timeout), rather than the link breaking.
    pub fn is_timeout(&self) -> bool {
        // LIBSSH2_ERROR_TIMEOUT
        match self {
            SshError::Session { source, .. } => source.code() == ssh2::ErrorCode::Session(-9),
            SshError::Io { source, .. } => source.kind() == std::io::ErrorKind::TimedOut,
            SshError::Tunnel(_) | SshError::Refused { .. } | SshError::PasswordRefused { .. } => {
                false
            }
        }
    }
}

/// Who to log in as and how.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub key: PathBuf,
    /// The account's password, used instead of the key when set: the downstream suite logs in
    /// to Windows with the image's password, which a Windows image has from its build.
    pub password: Option<String>,
    /// Budget of each network step (handshake, one command).
    pub timeout: Duration,
}

/// A logged-in session; commands run one at a time.
pub struct Session {
    target: String,
    inner: Arc<Mutex<ssh2::Session>>,
    _tunnel: Tunnel,
}

impl Session {
    /// Opens a tunnel to port 22 of VMI `ns/vmi` and logs in.
    pub async fn open(
        client: &kube::Client,
        ns: &str,
        vmi: &str,
        login: &Login,
    ) -> Result<Session, SshError> {
        let tunnel = tunnel::open(client, ns, vmi, 22).await?;
        let target = format!("{ns}/{vmi}");
        let socket = tunnel.socket.try_clone().map_err(|source| SshError::Io {
            target: target.clone(),
            doing: "cloning the tunnel socket",
            source,
        })?;
        let (t, l) = (target.clone(), login.clone());
        let inner = blocking(move || handshake(&t, socket, &l)).await?;
        Ok(Session {
            target,
            inner: Arc::new(Mutex::new(inner)),
            _tunnel: tunnel,
        })
    }

    /// Runs `command`; its exit code is in the output, not an error.
    pub async fn run(&self, command: &str) -> Result<Output, SshError> {
        let (inner, target, command) =
            (self.inner.clone(), self.target.clone(), command.to_string());
        blocking(move || {
            let session = inner.lock().unwrap_or_else(|p| p.into_inner());
            exec(&target, &session, &command)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SshError> + Send + 'static,
) -> Result<T, SshError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

fn handshake(
    target: &str,
    socket: std::os::unix::net::UnixStream,
    login: &Login,
) -> Result<ssh2::Session, SshError> {
    let fail = |doing| {
        move |source| SshError::Session {
            target: target.to_string(),
            doing,
            source,
        }
    };
    let mut session = ssh2::Session::new().map_err(fail("starting libssh2"))?;
    session.set_tcp_stream(socket);
    session.set_timeout(login.timeout.as_millis().min(u32::MAX as u128) as u32);
    session.handshake().map_err(fail("the handshake"))?;
    let authenticated = match &login.password {
        Some(password) => session.userauth_password(&login.user, password),
        None => session.userauth_pubkey_file(&login.user, None, Path::new(&login.key), None),
    };
    match authenticated {
        Ok(()) => Ok(session),
        // LIBSSH2_ERROR_AUTHENTICATION_FAILED / _PUBLICKEY_UNVERIFIED: the guest said no.
        Err(e) if matches!(e.code(), ssh2::ErrorCode::Session(-18 | -19)) => {
            Err(refused(target, login))
        }
        // Anything else is the link failing during authentication.
        Err(e) => Err(fail("authenticating")(e)),
    }
}

fn refused(target: &str, login: &Login) -> SshError {
    let (target, user) = (target.to_string(), login.user.clone());
    match login.password {
        Some(_) => SshError::PasswordRefused { target, user },
        None => SshError::Refused {
            target,
            user,
            key: login.key.clone(),
        },
    }
}

fn exec(target: &str, session: &ssh2::Session, command: &str) -> Result<Output, SshError> {
    let fail = |doing| {
        move |source| SshError::Session {
            target: target.to_string(),
            doing,
            source,
        }
    };
    let mut channel = session
        .channel_session()
        .map_err(fail("opening a channel"))?;
    channel
        .exec(command)
        .map_err(fail("starting the command"))?;
    let mut out = Output::default();
    let io = |doing| {
        move |source| SshError::Io {
            target: target.to_string(),
            doing,
            source,
        }
    };
    channel
        .read_to_string(&mut out.stdout)
        .map_err(io("reading stdout"))?;
    channel
        .stderr()
        .read_to_string(&mut out.stderr)
        .map_err(io("reading stderr"))?;
    channel.wait_close().map_err(fail("closing the channel"))?;
    out.code = channel
        .exit_status()
        .map_err(fail("reading the exit status"))?;
    Ok(out)
}

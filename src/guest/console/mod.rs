//! A guest's serial console through the KubeVirt VMI `console` subresource, for guests the
//! port-forward cannot reach: virt-api dials the first interface's address from its own pod,
//! and a primary user-defined network is isolated from that pod (kubevirt/kubevirt issue
//! 18399), while the console goes through virt-handler to the launcher's serial socket.
//!
//! It is a terminal, not a command channel: what is typed is echoed, the OS prints prompts,
//! stdout and stderr arrive mixed on one stream with CRLF line ends, and bash on RHEL 9 wraps
//! its prompt in bracketed-paste escapes. A command is therefore sent between two markers,
//! `echo S<nonce>; COMMAND; echo E<nonce>-$?`: the echo of the typed line shows `$?`
//! unexpanded, so only the shell's own output matches `E<nonce>-<digits>`.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::websocket::{self, Socket, Unopened};
use super::Output;
use screen::{at_login_or_shell, at_shell, clean, marked, tail};

mod screen;

/// Who logs in on the console, and the budget of each step (login, one command).
#[derive(Debug, Clone)]
pub struct ConsoleLogin {
    pub user: String,
    pub password: String,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("the console of {vmi} was refused: HTTP {status}: {message}{}", refusal_hint(*status))]
    Refused {
        vmi: String,
        status: u16,
        message: String,
    },
    #[error("the console of {vmi} failed: {why}")]
    Transport { vmi: String, why: String },
    #[error("the console of {vmi}: no {waiting_for} within {budget:?}; last seen: {seen:?}")]
    TimedOut {
        vmi: String,
        waiting_for: String,
        budget: Duration,
        seen: String,
    },
    #[error("the console of {vmi} refused the login of {user}: {seen:?}")]
    LoginIncorrect {
        vmi: String,
        user: String,
        seen: String,
    },
    #[error(
        "the console of {vmi} takes one line at a time; the command has a line break: {command:?}"
    )]
    Multiline { vmi: String, command: String },
}

/// What the user can do about a refusal that no retry heals.
fn refusal_hint(status: u16) -> &'static str {
    match status {
        401 => super::websocket::CREDENTIALS_REFUSED,
        403 => " (the kubeconfig's user may not open virtualmachineinstances/console in this namespace)",
        _ => "",
    }
}

impl ConsoleError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, ConsoleError::TimedOut { .. })
    }
}

/// A logged-in console: a bash prompt waits.
pub struct Console {
    vmi: String,
    socket: Socket,
    /// What arrived and is not consumed yet, as the terminal sent it (an escape may be split
    /// between two frames, so it is cleaned whole).
    pending: String,
    timeout: Duration,
}

impl Console {
    /// Connects to the console of VMI `ns/vmi` and logs in (or takes over the shell a
    /// previous connection left logged in: the serial tty outlives connections).
    pub async fn open(
        client: &kube::Client,
        ns: &str,
        vmi: &str,
        login: &ConsoleLogin,
    ) -> Result<Console, ConsoleError> {
        let socket = connect_retrying(client, ns, vmi).await?;
        let mut console = Console {
            vmi: format!("{ns}/{vmi}"),
            socket,
            pending: String::new(),
            timeout: login.timeout,
        };
        console.log_in(login).await?;
        Ok(console)
    }

    async fn log_in(&mut self, login: &ConsoleLogin) -> Result<(), ConsoleError> {
        // The prompt was printed before we connected: an empty line asks for a new one.
        self.send("\r").await?;
        let seen = self
            .read_until("a login or shell prompt", at_login_or_shell)
            .await?;
        if at_shell(&seen) {
            return Ok(());
        }
        self.send(&format!("{}\r", login.user)).await?;
        self.read_until("the password prompt", |t| {
            t.trim_end().ends_with("Password:")
        })
        .await?;
        self.send(&format!("{}\r", login.password)).await?;
        let seen = self
            .read_until("a shell prompt after the password", |t| {
                at_shell(t) || t.contains("Login incorrect")
            })
            .await?;
        if !at_shell(&seen) {
            return Err(ConsoleError::LoginIncorrect {
                vmi: self.vmi.clone(),
                user: login.user.clone(),
                seen: tail(&seen),
            });
        }
        Ok(())
    }

    /// Runs one command line; stdout and stderr come back together as `stdout`.
    pub async fn run(&mut self, command: &str) -> Result<Output, ConsoleError> {
        if command.contains(['\n', '\r']) {
            return Err(ConsoleError::Multiline {
                vmi: self.vmi.clone(),
                command: command.into(),
            });
        }
        let nonce = format!("{:016x}", rand::random::<u64>());
        let (start, end) = (format!("S{nonce}"), format!("E{nonce}-"));
        // A command sent to the background ends with `&`, which a `;` may not follow.
        let join = match command.trim_end().ends_with('&') && !command.ends_with("&&") {
            true => " ",
            false => "; ",
        };
        self.send(&format!("echo {start}; {command}{join}echo {end}$?\r"))
            .await?;
        let finished = |t: &str| marked(t, &start, &end).is_some() && at_shell(t);
        let seen = self
            .read_until("the command's end marker", finished)
            .await?;
        let (stdout, code) = marked(&seen, &start, &end).expect("checked by read_until");
        Ok(Output {
            stdout,
            stderr: String::new(),
            code,
        })
    }

    async fn send(&mut self, text: &str) -> Result<(), ConsoleError> {
        let vmi = self.vmi.clone();
        self.socket
            .send(Message::binary(text.as_bytes().to_vec()))
            .await
            .map_err(|e| ConsoleError::Transport {
                vmi,
                why: e.to_string(),
            })
    }

    /// Reads until `done` holds for what arrived; returns it and consumes it. Each wait has
    /// the step's budget, and its error shows the last text seen.
    async fn read_until(
        &mut self,
        waiting_for: &str,
        done: impl Fn(&str) -> bool,
    ) -> Result<String, ConsoleError> {
        let deadline = Instant::now() + self.timeout;
        while !done(&clean(&self.pending)) {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = tokio::time::timeout(left, self.socket.next()).await;
            let text = match next {
                Err(_) => return Err(self.timed_out(waiting_for)),
                Ok(Some(Ok(Message::Binary(b)))) => String::from_utf8_lossy(&b).into_owned(),
                Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) => {
                    return Err(self.ended(waiting_for, "the console closed".into()))
                }
                Ok(Some(Err(e))) => return Err(self.ended(waiting_for, e.to_string())),
                Ok(Some(Ok(_))) => continue,
            };
            self.pending.push_str(&text);
        }
        Ok(clean(&std::mem::take(&mut self.pending)))
    }

    fn timed_out(&self, waiting_for: &str) -> ConsoleError {
        ConsoleError::TimedOut {
            vmi: self.vmi.clone(),
            waiting_for: waiting_for.into(),
            budget: self.timeout,
            seen: tail(&clean(&self.pending)),
        }
    }

    fn ended(&self, waiting_for: &str, why: String) -> ConsoleError {
        ConsoleError::Transport {
            vmi: self.vmi.clone(),
            why: format!(
                "{why} while waiting for {waiting_for}; last seen: {:?}",
                tail(&clean(&self.pending))
            ),
        }
    }
}

/// A console kept open between commands: opened (and logged in) on first use, dropped when
/// it breaks or runs out of time, so the next command starts afresh.
pub struct Channel {
    login: ConsoleLogin,
    open: tokio::sync::Mutex<Option<Console>>,
}

impl Channel {
    pub fn new(login: ConsoleLogin) -> Channel {
        Channel {
            login,
            open: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn run(
        &self,
        client: &kube::Client,
        ns: &str,
        vmi: &str,
        command: &str,
    ) -> Result<Output, ConsoleError> {
        let mut open = self.open.lock().await;
        if open.is_none() {
            *open = Some(Console::open(client, ns, vmi, &self.login).await?);
        }
        let answer = open.as_mut().expect("opened above").run(command).await;
        if answer.is_err() {
            *open = None;
        }
        answer
    }

    /// Drops the connection (the VMI moved: the old virt-handler's stream ends).
    pub async fn forget(&self) {
        *self.open.lock().await = None;
    }
}

/// What the serial console of VMI `ns/vmi` shows, for diagnostics: a line feed asks for a
/// fresh prompt (nothing else is typed), then what arrives until a login or shell prompt shows,
/// `window` runs out, `cap` bytes came or the console closes; cleaned of terminal escapes.
pub async fn capture(
    client: &kube::Client,
    ns: &str,
    vmi: &str,
    window: Duration,
    cap: usize,
) -> Result<String, ConsoleError> {
    let broken = |why: String| ConsoleError::Transport {
        vmi: format!("{ns}/{vmi}"),
        why,
    };
    let mut socket = connect(client, ns, vmi).await?;
    socket
        .send(Message::binary(b"\r".to_vec()))
        .await
        .map_err(|e| broken(e.to_string()))?;
    let deadline = Instant::now() + window;
    let mut seen = String::new();
    while seen.len() < cap && !at_login_or_shell(&clean(&seen)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Err(_) | Ok(None) | Ok(Some(Ok(Message::Close(_)))) => break,
            Ok(Some(Ok(Message::Binary(b)))) => seen.push_str(&String::from_utf8_lossy(&b)),
            Ok(Some(Ok(Message::Text(t)))) => seen.push_str(&t),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(broken(e.to_string())),
        }
    }
    let _ = socket.close(None).await;
    Ok(clean(&seen))
}

/// [`connect`], asking a busy or failing API server (429, 5xx) or a broken connection again
/// with the API calls' backoff; every other refusal (the VMI is not running, …) is final.
async fn connect_retrying(
    client: &kube::Client,
    ns: &str,
    vmi: &str,
) -> Result<Socket, ConsoleError> {
    let busy = |e: &ConsoleError, attempt| match e {
        ConsoleError::Refused { status, .. } if *status == 429 || *status >= 500 => {
            Some(crate::cluster::retry::backoff(attempt))
        }
        ConsoleError::Transport { .. } => Some(crate::cluster::retry::backoff(attempt)),
        _ => None,
    };
    crate::cluster::retry::retrying_when(|| connect(client, ns, vmi), busy).await
}

/// The websocket to `…/virtualmachineinstances/{vmi}/console`, as `virtctl console` opens it
/// (kubevirt v1.9.0 staging/src/kubevirt.io/client-go/kubevirt/typed/core/v1
/// virtualmachineinstance_expansion.go SerialConsole: subprotocol `plain.kubevirt.io`).
async fn connect(client: &kube::Client, ns: &str, vmi: &str) -> Result<Socket, ConsoleError> {
    let path = format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/{ns}/virtualmachineinstances/{vmi}/console"
    );
    websocket::open(client, path).await.map_err(|e| match e {
        Unopened::Refused { status, message } => ConsoleError::Refused {
            vmi: format!("{ns}/{vmi}"),
            status,
            message,
        },
        Unopened::Transport(why) => ConsoleError::Transport {
            vmi: format!("{ns}/{vmi}"),
            why: why.to_string(),
        },
    })
}

#[cfg(test)]
mod refusal_tests {
    use super::ConsoleError;

    fn refused(status: u16) -> String {
        let vmi = "ns/vm".to_string();
        let message = "Unauthorized".to_string();
        ConsoleError::Refused {
            vmi,
            status,
            message,
        }
        .to_string()
    }

    #[test]
    fn an_expired_token_is_named_as_such_with_what_to_do() {
        assert!(refused(401).contains("log in again"), "{}", refused(401));
        assert!(refused(403).contains("may not open virtualmachineinstances/console"));
        assert!(!refused(500).contains("log in again"));
    }
}

//! A guest as a scenario uses it: commands with a timeout over an SSH session through the
//! VMI port-forward, a session that is reopened once when it breaks (a migration moves the
//! VMI to another pod, so the old tunnel ends), and a transcript of the last commands for the
//! diagnostics of a failed scenario.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::console::{Channel, ConsoleLogin};
use super::environment::{self, Environment};
use super::ssh::{Login, Session, SshError};
use super::tunnel::TunnelError;
use super::Output;
use crate::guest::os::GuestOs;

/// Commands remembered for diagnostics.
const TRANSCRIPT: usize = 40;

pub struct Guest {
    client: kube::Client,
    ns: String,
    vmi: String,
    pub os: GuestOs,
    login: Login,
    session: tokio::sync::Mutex<Option<Session>>,
    /// Set for guests the port-forward cannot reach (a primary UDN): commands go over the
    /// serial console instead of SSH.
    console: Option<Channel>,
    transcript: Transcript,
}

/// The last commands sent to a guest and their answers, shared with the diagnostics.
pub type Transcript = Arc<Mutex<VecDeque<String>>>;

impl Guest {
    pub fn new(client: &kube::Client, ns: &str, vmi: &str, os: GuestOs, login: Login) -> Guest {
        Guest {
            client: client.clone(),
            ns: ns.into(),
            vmi: vmi.into(),
            os,
            login,
            session: tokio::sync::Mutex::new(None),
            console: None,
            transcript: Arc::default(),
        }
    }

    /// The same guest driven over its serial console as `login`.
    pub fn over_console(mut self, login: ConsoleLogin) -> Guest {
        self.console = Some(Channel::new(login));
        self
    }

    pub fn name(&self) -> &str {
        &self.vmi
    }

    /// Runs `command` (a PowerShell script on Windows) and returns what it printed and its
    /// exit code. A broken session is reopened and the command sent once more; a command
    /// that outlives the login's timeout is an error naming it.
    pub async fn exec(&self, command: &str) -> anyhow::Result<Output> {
        let line = match self.os {
            GuestOs::Rhel => command.to_string(),
            GuestOs::Windows => super::windows::powershell(command),
        };
        let mut last = None;
        for _ in 0..2 {
            match self.once(&line).await {
                Ok(out) => {
                    self.remember(command, &out.to_string());
                    return Ok(out);
                }
                // A command that ran out of time is not sent again: it would only run out
                // of time twice.
                Err(Attempt::TimedOut(e)) => {
                    self.remember(command, &format!("error: {e:#}"));
                    return Err(e);
                }
                Err(Attempt::Broken(e)) => {
                    self.remember(command, &format!("error: {e:#}"));
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
    }

    /// Runs `command` and insists on exit 0; returns stdout. A command the guest has no tool
    /// for is an [`Environment`] problem, not the product failing.
    pub async fn ok(&self, command: &str) -> anyhow::Result<String> {
        let out = self.exec(command).await?;
        if let Some(tool) = environment::missing_tool(command, &out) {
            return Err(self.lacks(tool, command, &out).into());
        }
        anyhow::ensure!(out.code == 0, "{}: `{command}` failed: {out}", self.vmi);
        Ok(out.stdout)
    }

    /// The environment problem of this guest lacking `tool`, as `command` found.
    pub(crate) fn lacks(&self, tool: String, command: &str, out: &Output) -> Environment {
        Environment::MissingTool {
            vmi: format!("{}/{}", self.ns, self.vmi),
            tool,
            command: command.to_string(),
            answer: out.to_string(),
        }
    }

    /// Logs in until a login succeeds, within `budget`, pausing `pause(attempt)` between
    /// attempts: sshd starts a while after the guest agent connects and keys given through
    /// the agent arrive later still, so refusals are expected for a while. An SSH login has
    /// nothing to watch, hence the bounded retry. Gives up at once where virt-api says the
    /// VMI is gone or paused; past the budget, an [`Environment`] problem with the last error.
    pub async fn reach(
        &self,
        budget: Duration,
        pause: impl Fn(u32) -> Duration,
    ) -> anyhow::Result<u32> {
        if self.console.is_some() {
            // The console channel logs in on its first command, within its own budget.
            self.ok("true").await?;
            return Ok(1);
        }
        let deadline = tokio::time::Instant::now() + budget;
        let mut attempts = 0;
        let mut last = String::new();
        loop {
            attempts += 1;
            let error = match Session::open(&self.client, &self.ns, &self.vmi, &self.login).await {
                Ok(session) => {
                    *self.session.lock().await = Some(session);
                    self.remember("(login)", &format!("logged in at attempt {attempts}"));
                    return Ok(attempts);
                }
                Err(e) if final_refusal(&e) => return Err(e.into()),
                // A Windows image has its password from its build: unlike a key given
                // through the agent, a refused one will not be accepted later.
                Err(e @ SshError::PasswordRefused { .. }) => {
                    self.remember("(login)", &format!("attempt {attempts}: {e}"));
                    return Err(Environment::LoginRefused {
                        vmi: format!("{}/{}", self.ns, self.vmi),
                        reason: e.to_string(),
                    }
                    .into());
                }
                Err(e) => format!("{e:#}"),
            };
            if error != last {
                self.remember("(login)", &format!("attempt {attempts}: {error}"));
                last = error;
            }
            let next = tokio::time::Instant::now() + pause(attempts);
            if next >= deadline {
                return Err(Environment::Unreachable {
                    vmi: format!("{}/{}", self.ns, self.vmi),
                    budget,
                    attempts,
                    last,
                }
                .into());
            }
            tokio::time::sleep_until(next).await;
        }
    }

    /// Forgets the session, so the next command opens a new one (after a migration).
    pub async fn reconnect(&self) {
        if let Some(console) = &self.console {
            console.forget().await;
        }
        *self.session.lock().await = None;
    }

    /// A handle on the transcript that outlives the guest handle.
    pub fn transcript_handle(&self) -> Transcript {
        self.transcript.clone()
    }

    /// The last commands and their answers, oldest first.
    pub fn transcript(&self) -> Vec<String> {
        self.transcript
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    async fn once(&self, line: &str) -> Result<Output, Attempt> {
        if let Some(console) = &self.console {
            let answer = console.run(&self.client, &self.ns, &self.vmi, line).await;
            return answer.map_err(|e| match e.is_timeout() {
                true => Attempt::TimedOut(e.into()),
                false => Attempt::Broken(e.into()),
            });
        }
        let mut session = self.session.lock().await;
        if session.is_none() {
            let opened = Session::open(&self.client, &self.ns, &self.vmi, &self.login)
                .await
                .map_err(|e| Attempt::Broken(e.into()))?;
            *session = Some(opened);
        }
        let open = session.as_ref().expect("opened above");
        let budget = self.login.timeout + Duration::from_secs(1);
        let answer = tokio::time::timeout(budget, open.run(line)).await;
        let timed_out = || {
            Attempt::TimedOut(anyhow::anyhow!(
                "{}/{}: `{line}` did not finish within {:?}",
                self.ns,
                self.vmi,
                self.login.timeout
            ))
        };
        match answer {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => {
                *session = None;
                if e.is_timeout() {
                    Err(timed_out())
                } else {
                    Err(Attempt::Broken(broken(e)))
                }
            }
            Err(_) => {
                *session = None;
                Err(timed_out())
            }
        }
    }

    fn remember(&self, command: &str, answer: &str) {
        let mut t = self.transcript.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() == TRANSCRIPT {
            t.pop_front();
        }
        let answer: String = answer.chars().take(2000).collect();
        t.push_back(format!("$ {command}\n{answer}"));
    }
}

/// Why one attempt at a command failed.
enum Attempt {
    /// The session or tunnel broke: worth one more try on a new session.
    Broken(anyhow::Error),
    TimedOut(anyhow::Error),
}

/// The API refusing the port-forward for a reason waiting does not cure: no such VMI, or a
/// paused one (kubevirt v1.9.0 pkg/virt-api/rest/portforward.go validateVMIForPortForward),
/// or credentials the API server does not accept (401: an expired token stays expired) or a
/// user it forbids the subresource (403); retrying those would only spend the boot budget.
fn final_refusal(e: &SshError) -> bool {
    matches!(
        e,
        SshError::Tunnel(TunnelError::Refused {
            status: 401 | 403 | 404 | 409,
            ..
        })
    )
}

fn broken(e: SshError) -> anyhow::Error {
    anyhow::Error::new(e).context("the SSH session broke")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16) -> SshError {
        SshError::Tunnel(TunnelError::Refused {
            vmi: "ns/vm".into(),
            port: 22,
            status,
            message: "Unauthorized".into(),
        })
    }

    #[test]
    fn a_refused_token_ends_the_wait_for_a_login_at_once() {
        assert!(final_refusal(&refused(401)));
        assert!(final_refusal(&refused(403)));
        assert!(!final_refusal(&refused(503)), "virt-api overloaded heals");
        let said = refused(401).to_string();
        assert!(said.contains("token has expired"), "{said}");
    }
}

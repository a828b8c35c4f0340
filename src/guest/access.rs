//! A guest as a scenario uses it: commands with a timeout over an SSH session through the
//! VMI port-forward, a session that is reopened once when it breaks (a migration moves the
//! VMI to another pod, so the old tunnel ends), and a transcript of the last commands for the
//! diagnostics of a failed scenario.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::console::{Channel, ConsoleLogin};
use super::ssh::{Login, Session, SshError};
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

    /// Runs `command` and insists on exit 0; returns stdout.
    pub async fn ok(&self, command: &str) -> anyhow::Result<String> {
        let out = self.exec(command).await?;
        anyhow::ensure!(out.code == 0, "{}: `{command}` failed: {out}", self.vmi);
        Ok(out.stdout)
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

fn broken(e: SshError) -> anyhow::Error {
    anyhow::Error::new(e).context("the SSH session broke")
}

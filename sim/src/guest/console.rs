//! The guest's serial console (the `console` subresource's far end): a tty with agetty's
//! `<hostname> login:` prompt, login's `Password:`, then bash at `[user@host ~]$ ` running
//! the same interpreter as SSH's exec. The line discipline is a real tty's canonical mode:
//! input is echoed (not the password), CR ends a line, output newlines go out as CRLF.
//!
//! The prompt was printed at boot, before anyone connected, so a new connection sees nothing
//! until it sends a line: agetty answers an empty name with a new prompt.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::{lock, shell, GuestRef, Network, Os};
use crate::world::GuestStream;

/// pam_faildelay's default on RHEL (`/etc/pam.d/system-auth` delay=2000000 µs): a wrong
/// password is answered after two seconds.
const FAIL_DELAY_SECONDS: f64 = 2.0;

/// bash 5.1 (RHEL 9) turns readline's bracketed paste on around each prompt
/// (lib/readline/rltty.c, `enable-bracketed-paste` on by default): the prompt comes after
/// `ESC[?2004h`, and the accepted line is followed by `ESC[?2004l` and a CR.
const PASTE_ON: &str = "\x1b[?2004h";
const PASTE_OFF: &str = "\x1b[?2004l\r";

/// Who may log in on the console: plain-text passwords by user, from cloud-init.
pub type Passwords = BTreeMap<String, String>;

/// Opens a console connection to `guest`; its tty is served until the client leaves.
pub fn open(guest: GuestRef, net: Arc<dyn Network>, passwords: Passwords) -> Box<dyn GuestStream> {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    // The stream runs through the source node's virt-handler and launcher: a migration ends
    // it (the guest's tty, and who is logged in there, stay), and so does the guest going
    // down (QEMU, which serves the serial socket, exits).
    let mut cut = lock(&guest).cuts.subscribe();
    tokio::spawn(async move {
        let mut tty = Tty {
            io: ours,
            guest,
            net,
            passwords,
            status: 0,
        };
        tokio::select! {
            _ = tty.serve() => {}
            _ = cut.changed() => {}
        }
    });
    Box::new(theirs)
}

struct Tty {
    io: DuplexStream,
    guest: GuestRef,
    net: Arc<dyn Network>,
    passwords: Passwords,
    /// `$?`: the status of the last statement, kept from line to line as bash does.
    status: u32,
}

impl Tty {
    async fn serve(&mut self) -> std::io::Result<()> {
        loop {
            let logged_in = lock(&self.guest).console_user.clone();
            let (user, fresh) = match logged_in {
                Some(user) => (user, false),
                None => match self.login().await? {
                    Some(user) => (user, true),
                    None => return Ok(()),
                },
            };
            lock(&self.guest).console_user = Some(user.clone());
            if !self.shell(&user, fresh).await? {
                return Ok(());
            }
            lock(&self.guest).console_user = None;
        }
    }

    /// agetty (util-linux term-utils/agetty.c get_logname: an empty name gets a new prompt)
    /// and login: the logged-in user, or `None` when the client left.
    async fn login(&mut self) -> std::io::Result<Option<String>> {
        loop {
            let Some(name) = self.read_line(true).await? else {
                return Ok(None);
            };
            let name = name.trim().to_string();
            if name.is_empty() {
                let prompt = format!("{} login: ", self.hostname());
                self.write(&prompt).await?;
                continue;
            }
            self.write("Password: ").await?;
            let Some(password) = self.read_line(false).await? else {
                return Ok(None);
            };
            if self.passwords.get(&name) == Some(&password) {
                return Ok(Some(name));
            }
            // util-linux login-utils/login.c loginpam_auth: a failed login waits out PAM's
            // delay, says "Login incorrect" and prompts again.
            let real = FAIL_DELAY_SECONDS / lock(&self.guest).time_scale().max(1.0);
            tokio::time::sleep(Duration::from_secs_f64(real)).await;
            let again = format!("\nLogin incorrect\n\n{} login: ", self.hostname());
            self.write(&again).await?;
        }
    }

    /// bash on the tty (a `fresh` login prints its first prompt) until `exit`/`logout` (true:
    /// back to the login prompt) or the client leaves (false).
    async fn shell(&mut self, user: &str, fresh: bool) -> std::io::Result<bool> {
        let prompt = format!("{PASTE_ON}[{user}@{} ~]$ ", self.hostname());
        // A shell left by an earlier connection printed its prompt long ago: the client sees
        // the next one after its first line, as with agetty's.
        if fresh {
            self.write(&prompt).await?;
        }
        while let Some(line) = self.read_line(true).await? {
            self.write(PASTE_OFF).await?;
            if matches!(line.trim(), "exit" | "logout") {
                let banner = format!("logout\n\n{}", self.banner());
                self.write(&banner).await?;
                return Ok(true);
            }
            self.run(&line).await?;
            self.write(&prompt).await?;
        }
        Ok(false)
    }

    /// Runs a command line as bash on a terminal does: statement after statement, each one's
    /// output on the screen before the next starts, `$?` the previous statement's status.
    /// (Within one statement the interpreter returns stdout and stderr apart; they are shown
    /// in that order.)
    async fn run(&mut self, line: &str) -> std::io::Result<()> {
        for statement in statements(line) {
            let statement = with_status(&statement, self.status);
            let out = shell::run_async(self.guest.clone(), self.net.clone(), statement).await;
            self.write(&out.stdout).await?;
            self.write(&out.stderr).await?;
            self.status = out.code;
        }
        Ok(())
    }

    fn banner(&self) -> String {
        banner(&lock(&self.guest))
    }

    fn hostname(&self) -> String {
        short(&lock(&self.guest).hostname).to_string()
    }

    /// One line in canonical mode, echoed when `echo`; `None` when the client left. Until
    /// the OS is up (and on Windows, which runs no getty on its serial port) nothing reads
    /// the line: it is dropped unechoed.
    async fn read_line(&mut self, echo: bool) -> std::io::Result<Option<String>> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            if self.io.read(&mut byte).await? == 0 {
                return Ok(None);
            }
            let listening = {
                let g = lock(&self.guest);
                g.up && !g.paused() && g.os == Os::Linux
            };
            match byte[0] {
                _ if !listening => line.clear(),
                b'\r' | b'\n' => {
                    self.io.write_all(b"\r\n").await?;
                    return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
                }
                // VERASE: the last character goes, on the screen too.
                0x7f | 0x08 => {
                    if line.pop().is_some() && echo {
                        self.io.write_all(b"\x08 \x08").await?;
                    }
                }
                c => {
                    line.push(c);
                    if echo {
                        self.io.write_all(&[c]).await?;
                    }
                }
            }
        }
    }

    /// Output through the tty's ONLCR: every newline goes out as CRLF.
    async fn write(&mut self, text: &str) -> std::io::Result<()> {
        self.io
            .write_all(text.replace('\n', "\r\n").as_bytes())
            .await
    }
}

/// The statements of a line: split at each `;` outside quotes (and not escaped).
fn statements(line: &str) -> Vec<String> {
    let (mut out, mut current) = (Vec::new(), String::new());
    let (mut quote, mut escaped) = (None, false);
    for c in line.chars() {
        match (c, quote) {
            _ if escaped => escaped = false,
            ('\\', q) if q != Some('\'') => escaped = true,
            ('\'' | '"', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (';', None) => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.retain(|s| !s.trim().is_empty());
    out
}

/// `$?` outside single quotes replaced by the previous statement's status.
fn with_status(statement: &str, status: u32) -> String {
    let mut out = String::new();
    let mut single = false;
    let mut chars = statement.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            single = !single;
        }
        if c == '$' && !single && chars.peek() == Some(&'?') {
            chars.next();
            out.push_str(&status.to_string());
            continue;
        }
        out.push(c);
    }
    out
}

/// The host name up to the first dot, as agetty's `\n` and bash's `\h` show it.
/// /etc/issue as agetty shows it on `guest`'s serial port, then the login prompt.
pub fn banner(guest: &super::Guest) -> String {
    format!(
        "{}\nKernel {} on an x86_64\n\n{} login: ",
        guest.distro.pretty_name,
        guest.distro.kernel_release,
        short(&guest.hostname)
    )
}

fn short(hostname: &str) -> &str {
    hostname.split('.').next().unwrap_or(hostname)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_runs_statement_by_statement_with_the_status_of_the_last() {
        assert_eq!(
            statements("echo 'a;b'; false && x; echo \"$?\"\\; y"),
            ["echo 'a;b'", " false && x", " echo \"$?\"\\; y"]
        );
        assert_eq!(with_status("echo $? '$?'", 1), "echo 1 '$?'");
    }
}

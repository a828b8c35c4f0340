//! Talking to guests: the KubeVirt port-forward tunnel, an SSH session over it, and the two
//! dialects the harness speaks (bash + coreutils/iproute2/iputils on RHEL, PowerShell on
//! Windows), each a set of commands and strict parsers of their real output formats. The
//! parsers are tested on captured outputs in `fixtures/guest/`.

pub mod access;
pub mod boot;
pub mod console;
pub mod egress;
pub mod environment;
pub mod key;
pub mod linux;
pub mod os;
pub mod probes;
pub mod ssh;
pub mod stun;
pub mod stun_plot;
pub mod tunnel;
pub mod websocket;
pub mod windows;

use std::fmt;

/// What one remote command printed and how it exited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {}; stdout {:?}; stderr {:?}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A guest answer the harness could not read: which value it wanted and the text it got.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {what} from the guest's answer {text:?}")]
pub struct Unreadable {
    pub what: &'static str,
    pub text: String,
}

pub(crate) fn unreadable(what: &'static str, text: &str) -> Unreadable {
    Unreadable {
        what,
        text: text.chars().take(400).collect(),
    }
}

/// One network interface as the guest sees it: name, MAC (lower-case, colon-separated),
/// whether it is up, and its addresses with prefix lengths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    pub up: bool,
    pub addresses: Vec<(std::net::IpAddr, u8)>,
}

/// The part of a process listing the harness reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub name: String,
}

/// Parses a trimmed decimal number of type `T`.
pub(crate) fn number<T: std::str::FromStr>(
    what: &'static str,
    text: &str,
) -> Result<T, Unreadable> {
    text.trim().parse().map_err(|_| unreadable(what, text))
}

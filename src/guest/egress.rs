//! Traffic that leaves the cluster: a guest connects to a host outside it that answers with
//! the client address it sees, so the harness learns what the outside world sees of the guest
//! (its own address, or the node's after egress SNAT).

use std::net::{IpAddr, SocketAddr};

use super::access::Guest;
use super::{unreadable, Output, Unreadable};
use crate::guest::os::GuestOs;

impl Guest {
    /// Connects to `service` (see `Profile::external_host`) and reads the address it says it
    /// sees; None when the connection fails (refused, no route, nothing answers within 5 s).
    pub async fn source_seen_by(&self, service: SocketAddr) -> anyhow::Result<Option<IpAddr>> {
        anyhow::ensure!(
            self.os == GuestOs::Rhel,
            "{}: north-south probes speak bash only; a Windows guest is not supported here",
            self.name()
        );
        self.require("timeout").await?;
        let out = self.exec(&ask(service)).await?;
        Ok(seen(&out)?)
    }
}

/// bash's `/dev/tcp` under coreutils' `timeout`: the service's one line on standard output.
pub fn ask(service: SocketAddr) -> String {
    format!(
        "timeout 5 bash -c 'cat </dev/tcp/{}/{}'",
        service.ip(),
        service.port()
    )
}

/// Reads [`ask`]: the address the service printed; None for a connect that failed (bash's
/// connect error, or exit 124 when `timeout` ended a connect no one answered). Over a serial
/// console stderr arrives in stdout (a terminal has one stream), so either counts.
pub fn seen(out: &Output) -> Result<Option<IpAddr>, Unreadable> {
    let failed = |text: &str| text.starts_with("bash: connect: ");
    let connect_failed = failed(&out.stderr) || failed(&out.stdout);
    let unreadable = || {
        unreadable(
            "the client address a host outside the cluster sees",
            &out.to_string(),
        )
    };
    match out.code {
        0 => out
            .stdout
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| unreadable()),
        1 if connect_failed => Ok(None),
        124 if out.stderr.trim().is_empty() => Ok(None),
        _ => Err(unreadable()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(stdout: &str, stderr: &str, code: i32) -> Output {
        Output {
            stdout: stdout.into(),
            stderr: stderr.into(),
            code,
        }
    }

    #[test]
    fn the_service_line_is_the_address_it_saw_and_a_failed_connect_is_none() {
        let service: SocketAddr = "198.51.100.10:8080".parse().unwrap();
        assert_eq!(
            ask(service),
            "timeout 5 bash -c 'cat </dev/tcp/198.51.100.10/8080'"
        );
        let node: IpAddr = "192.168.10.11".parse().unwrap();
        assert_eq!(seen(&answer("192.168.10.11\n", "", 0)), Ok(Some(node)));
        let refused = "bash: connect: Connection refused\nbash: line 1: /dev/tcp/198.51.100.10/8080: Connection refused\n";
        assert_eq!(seen(&answer("", refused, 1)), Ok(None));
        // Over a serial console, what bash printed on stderr is on the one stream.
        let unrouted = "bash: connect: No route to host\nbash: line 1: /dev/tcp/198.51.100.10/8080: No route to host\n";
        assert_eq!(seen(&answer(unrouted, "", 1)), Ok(None));
        assert_eq!(seen(&answer("", "", 124)), Ok(None));
        assert!(seen(&answer("hello\n", "", 0)).is_err());
    }
}

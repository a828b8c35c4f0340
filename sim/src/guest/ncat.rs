//! What an nmap-ncat (RHEL's `nc`, when the image has the nmap-ncat package) command line asks
//! for.

use std::net::IpAddr;

/// What an `ncat`/`nc` command line asks for.
#[derive(Debug, PartialEq)]
pub enum Ncat {
    Listen(u16),
    Connect(IpAddr, u16),
    Probe(IpAddr, u16),
}

pub fn is_ncat(program: &str) -> bool {
    matches!(program, "ncat" | "nc")
}

pub fn parse(args: &[&str]) -> Option<Ncat> {
    let listen = args.iter().any(|a| {
        *a == "-l"
            || *a == "--listen"
            || a.starts_with("-l") && a.len() > 2 && !a[2..].contains(|c: char| c.is_ascii_digit())
    });
    let probe = args.contains(&"-z");
    let mut words = Vec::new();
    let mut i = 1;
    while i < args.len() {
        match args[i] {
            "-w" | "-i" | "-p" | "-s" | "--wait" => i += 1,
            a if a.starts_with('-') => {}
            a => words.push(a),
        }
        i += 1;
    }
    let port: u16 = words.last()?.parse().ok()?;
    if listen {
        return Some(Ncat::Listen(port));
    }
    let host: IpAddr = words.first()?.parse().ok()?;
    Some(if probe {
        Ncat::Probe(host, port)
    } else {
        Ncat::Connect(host, port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ncat_command_lines_are_read_like_ncat_reads_them() {
        assert_eq!(
            parse(&["ncat", "-l", "-k", "5000"]),
            Some(Ncat::Listen(5000))
        );
        assert_eq!(parse(&["nc", "-lk", "5000"]), Some(Ncat::Listen(5000)));
        let ip: IpAddr = "10.100.0.3".parse().unwrap();
        assert_eq!(
            parse(&["ncat", "-z", "-w", "2", "10.100.0.3", "5000"]),
            Some(Ncat::Probe(ip, 5000))
        );
        assert_eq!(
            parse(&["ncat", "10.100.0.3", "5000"]),
            Some(Ncat::Connect(ip, 5000))
        );
        assert_eq!(parse(&["ncat", "somehost"]), None);
    }
}

//! The programs of the image, where its packages put them. A program the shell does not find
//! here is "command not found".
//!
//! The RHEL guest boots a RHEL 9 KVM guest image, built by osbuild's "qcow2" (alias
//! "guest-image") image type: osbuild/images data/distrodefs/rhel-9/imagetypes.yaml
//! `image_types.qcow2.package_sets.os` (`@core`, cloud-init, qemu-guest-agent, tcpdump, …).
//! That set has neither nmap-ncat nor stress-ng; both are AppStream packages an image gets only
//! when built or installed with them. python3 is there because cloud-init (a Python program)
//! requires it.

use crate::guest::Guest;

/// One RPM: its name and the programs it installs (directory, name), limited to what the
/// model answers.
pub struct Package {
    pub name: &'static str,
    programs: &'static [(&'static str, &'static str)],
}

const fn rpm(name: &'static str, programs: &'static [(&'static str, &'static str)]) -> Package {
    Package { name, programs }
}

/// The packages of the RHEL 9 KVM guest image that own the programs the model answers.
pub const IMAGE: &[Package] = &[
    rpm("bash", &[("/usr/bin", "bash"), ("/usr/bin", "sh")]),
    rpm(
        "coreutils",
        &[
            ("/usr/bin", "cat"),
            ("/usr/bin", "dd"),
            ("/usr/bin", "echo"),
            ("/usr/bin", "false"),
            ("/usr/bin", "head"),
            ("/usr/bin", "ls"),
            ("/usr/bin", "nohup"),
            ("/usr/bin", "nproc"),
            ("/usr/bin", "sleep"),
            ("/usr/bin", "test"),
            ("/usr/bin", "["),
            ("/usr/bin", "timeout"),
            ("/usr/bin", "true"),
            ("/usr/bin", "uname"),
            ("/usr/bin", "wc"),
        ],
    ),
    rpm("grep", &[("/usr/bin", "grep")]),
    rpm("hostname", &[("/usr/bin", "hostname")]),
    rpm("util-linux", &[("/usr/bin", "kill"), ("/usr/bin", "lsmem")]),
    rpm(
        "procps-ng",
        &[
            ("/usr/bin", "free"),
            ("/usr/bin", "pgrep"),
            ("/usr/bin", "ps"),
        ],
    ),
    rpm("iputils", &[("/usr/bin", "ping")]),
    rpm("iproute", &[("/usr/sbin", "ip"), ("/usr/sbin", "ss")]),
    rpm("sudo", &[("/usr/bin", "sudo")]),
    rpm("python3", &[("/usr/bin", "python3")]),
    rpm("dnf", &[("/usr/bin", "dnf")]),
];

/// Packages a RHEL 9 repository (AppStream) offers beyond the image, that the model runs.
pub const AVAILABLE: &[Package] = &[
    rpm("nmap-ncat", &[("/usr/bin", "ncat"), ("/usr/bin", "nc")]),
    rpm("stress-ng", &[("/usr/bin", "stress-ng")]),
];

/// The image's packages by name, then the repository's.
pub fn named(name: &str) -> Option<&'static Package> {
    IMAGE.iter().chain(AVAILABLE).find(|p| p.name == name)
}

/// The names of the packages a RHEL 9 KVM guest image has.
pub fn image() -> Vec<&'static str> {
    IMAGE.iter().map(|p| p.name).collect()
}

/// The directories searched for a command, in order (RHEL's default PATH).
pub const PATH: &[&str] = &["/usr/local/bin", "/usr/bin", "/usr/local/sbin", "/usr/sbin"];

/// Every (directory, program) the guest's installed packages hold.
fn programs(g: &Guest) -> impl Iterator<Item = &'static (&'static str, &'static str)> + '_ {
    g.packages
        .iter()
        .filter_map(|name| named(name))
        .flat_map(|p| p.programs.iter())
}

/// The program at `path` (`/usr/bin/ls`, or through the `/bin`, `/sbin` links).
pub fn at(g: &Guest, path: &str) -> Option<&'static str> {
    let (dir, name) = path.rsplit_once('/')?;
    let dir = match dir {
        "/bin" => "/usr/bin",
        "/sbin" => "/usr/sbin",
        d => d,
    };
    programs(g)
        .find(|(d, n)| *d == dir && *n == name)
        .map(|(_, n)| *n)
}

/// Where `name` is found on the PATH.
pub fn which(g: &Guest, name: &str) -> Option<String> {
    PATH.iter()
        .map(|dir| format!("{dir}/{name}"))
        .find(|path| at(g, path).is_some())
}

/// The programs in `dir`.
pub fn in_dir(g: &Guest, dir: &str) -> Vec<String> {
    programs(g)
        .filter(|(d, _)| *d == dir)
        .map(|(_, n)| n.to_string())
        .collect()
}

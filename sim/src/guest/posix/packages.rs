//! The programs of the image, where its packages put them. A program the shell does not find
//! here is "command not found".

/// (directory, program): what a RHEL 9 cloud image's coreutils, procps-ng, iproute, iputils,
/// util-linux, hostname and bash install, limited to what the model answers.
const PROGRAMS: &[(&str, &str)] = &[
    ("/usr/bin", "bash"),
    ("/usr/bin", "sh"),
    ("/usr/bin", "cat"),
    ("/usr/bin", "echo"),
    ("/usr/bin", "false"),
    ("/usr/bin", "grep"),
    ("/usr/bin", "head"),
    ("/usr/bin", "hostname"),
    ("/usr/bin", "kill"),
    ("/usr/bin", "ls"),
    ("/usr/bin", "lsmem"),
    ("/usr/bin", "nohup"),
    ("/usr/bin", "nproc"),
    ("/usr/bin", "free"),
    ("/usr/bin", "pgrep"),
    ("/usr/bin", "ping"),
    ("/usr/bin", "ps"),
    ("/usr/bin", "sleep"),
    ("/usr/bin", "sudo"),
    ("/usr/bin", "test"),
    ("/usr/bin", "["),
    ("/usr/bin", "true"),
    ("/usr/bin", "uname"),
    ("/usr/bin", "wc"),
    ("/usr/sbin", "ip"),
    ("/usr/sbin", "ss"),
    // Not in the RHEL 9 cloud image (nmap-ncat and stress-ng come from extra packages); kept
    // until the image's package set is modelled (issue 20 item 3).
    ("/usr/bin", "ncat"),
    ("/usr/bin", "nc"),
    ("/usr/bin", "stress-ng"),
];

/// The directories searched for a command, in order (RHEL's default PATH).
pub const PATH: &[&str] = &["/usr/local/bin", "/usr/bin", "/usr/local/sbin", "/usr/sbin"];

/// The program at `path` (`/usr/bin/ls`, or through the `/bin`, `/sbin` links).
pub fn at(path: &str) -> Option<&'static str> {
    let (dir, name) = path.rsplit_once('/')?;
    let dir = match dir {
        "/bin" => "/usr/bin",
        "/sbin" => "/usr/sbin",
        d => d,
    };
    PROGRAMS
        .iter()
        .find(|(d, n)| *d == dir && *n == name)
        .map(|(_, n)| *n)
}

/// Where `name` is found on the PATH.
pub fn which(name: &str) -> Option<String> {
    PATH.iter()
        .map(|dir| format!("{dir}/{name}"))
        .find(|path| at(path).is_some())
}

/// The programs in `dir`.
pub fn in_dir(dir: &str) -> Vec<String> {
    PROGRAMS
        .iter()
        .filter(|(d, _)| *d == dir)
        .map(|(_, n)| n.to_string())
        .collect()
}

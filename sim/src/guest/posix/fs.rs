//! The guest's filesystem as `ls`, `cat` and `test` see it: `/proc` and `/sys/class/net` made
//! from the model, the image's programs under `/usr/bin` and `/usr/sbin`, and files the command
//! line itself wrote.

use std::collections::BTreeMap;

use super::packages;
use crate::guest::Guest;

/// What a path names.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    File(String),
    /// A directory and its entries, sorted.
    Dir(Vec<String>),
    /// A program of the image (mode 755).
    Program,
}

/// What the shell wrote during one command line (`echo x > /tmp/f`).
pub type Written = BTreeMap<String, String>;

/// Resolves `path` (absolute, or relative to the home directory `cwd`).
pub fn lookup(g: &Guest, written: &Written, cwd: &str, path: &str) -> Option<Node> {
    let path = normalize(cwd, path);
    if let Some(text) = written.get(&path).or_else(|| g.files.get(&path)) {
        return Some(Node::File(text.clone()));
    }
    if let Some(text) = file(g, &path) {
        return Some(Node::File(text));
    }
    if packages::at(g, &path).is_some() {
        return Some(Node::Program);
    }
    dir(g, written, &path).map(Node::Dir)
}

/// `path` made absolute, without `.`, `..` or doubled slashes.
pub fn normalize(cwd: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn dir(g: &Guest, written: &Written, path: &str) -> Option<Vec<String>> {
    let nics = || g.nics.iter().map(|n| n.name.clone());
    let mut entries: Vec<String> = match path {
        "/" => words("bin boot dev etc home lib lib64 proc root run sbin sys tmp usr var"),
        "/usr" => words("bin lib lib64 libexec local sbin share"),
        "/usr/bin" | "/bin" => packages::in_dir(g, "/usr/bin"),
        "/usr/sbin" | "/sbin" => packages::in_dir(g, "/usr/sbin"),
        "/etc" => words("hostname os-release passwd"),
        "/dev" => words("null shm urandom zero"),
        "/home" => vec![g.distro.default_user.to_string()],
        "/sys" => words("class"),
        "/sys/class" => words("net"),
        "/sys/class/net" => std::iter::once("lo".to_string()).chain(nics()).collect(),
        "/proc" => g
            .processes
            .keys()
            .map(u32::to_string)
            .chain(words("meminfo stat sys uptime"))
            .collect(),
        "/proc/sys" => words("kernel"),
        "/proc/sys/kernel" => words("random"),
        "/proc/sys/kernel/random" => words("boot_id"),
        "/tmp" | "/root" | "/run" | "/var" | "/boot" | "/lib" | "/lib64" | "/dev/shm" => Vec::new(),
        p if p == format!("/home/{}", g.distro.default_user) => Vec::new(),
        p => {
            let name = p.strip_prefix("/sys/class/net/")?;
            if name != "lo" && !nics().any(|n| n == name) {
                return process_dir(g, p);
            }
            words("address carrier mtu operstate")
        }
    };
    let prefix = format!("{}/", path.trim_end_matches('/'));
    entries.extend(
        written
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string),
    );
    entries.sort();
    entries.dedup();
    Some(entries)
}

/// `/proc/<pid>`: one directory per running process.
fn process_dir(g: &Guest, path: &str) -> Option<Vec<String>> {
    let pid: u32 = path.strip_prefix("/proc/")?.parse().ok()?;
    g.processes
        .contains_key(&pid)
        .then(|| words("cmdline comm status"))
}

fn words(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_string).collect()
}

/// The text of a modelled file.
pub fn file(g: &Guest, path: &str) -> Option<String> {
    if let Some(text) = super::procfs::file(g, path) {
        return Some(text);
    }
    Some(match path {
        "/etc/hostname" => format!("{}\n", g.hostname),
        "/etc/os-release" => g.distro.os_release(),
        "/etc/passwd" => format!(
            "root:x:0:0:root:/root:/bin/bash\n{u}:x:1000:1000:Cloud User:/home/{u}:/bin/bash\n",
            u = g.distro.default_user
        ),
        "/dev/null" | "/dev/zero" | "/dev/urandom" => String::new(),
        p => return sys_class_net(g, p),
    })
}

/// `/sys/class/net/<nic>/{address,operstate,mtu,carrier}`.
fn sys_class_net(g: &Guest, path: &str) -> Option<String> {
    let (name, attr) = path.strip_prefix("/sys/class/net/")?.split_once('/')?;
    let (mac, up, mtu) = if name == "lo" {
        ("00:00:00:00:00:00".to_string(), true, 65536)
    } else {
        let nic = g.nics.iter().find(|n| n.name == name)?;
        (nic.mac.clone(), nic.up, 1500)
    };
    let state = match (name, up) {
        ("lo", _) => "unknown",
        (_, true) => "up",
        _ => "down",
    };
    Some(match attr {
        "address" => format!("{mac}\n"),
        "operstate" => format!("{state}\n"),
        "mtu" => format!("{mtu}\n"),
        "carrier" => format!("{}\n", u8::from(up)),
        _ => return None,
    })
}

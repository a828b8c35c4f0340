//! dnf (RHEL 9's dnf 4) `install`: as root, and only from a repository. The KVM guest image is
//! not registered and ships no repository file (osbuild/images rhel-9 qcow2 image config: the
//! subscription-manager dnf plugin disabled for an image built without a subscription), so
//! by default there is nothing to install from; the simulator's settings may give the guests
//! a reachable repository, which offers the packages the model knows (packages.rs
//! AVAILABLE).

use super::packages;
use super::state::{unsupported, Shell};
use crate::guest::command::Output;
use crate::guest::lock;

pub fn run(sh: &mut Shell, args: &[&str]) -> Output {
    let assume_yes = args.iter().any(|a| matches!(*a, "-y" | "--assumeyes"));
    let words: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let Some((&command, names)) = words.split_first() else {
        return Output::fail(1, "usage: dnf [options] COMMAND\n");
    };
    if !matches!(command, "install" | "in") {
        return unsupported("dnf commands other than install");
    }
    // dnf/cli/commands/__init__.py _checkRoot
    if !sh.root {
        return Output::fail(1, "Error: This command has to be run with superuser privileges (under the root user on most systems).\n");
    }
    // dnf/cli/cli.py Cli._check_enabled_repos (image config: /etc/yum.repos.d holds nothing)
    if !lock(sh.guest).repository {
        return Output::fail(1, "Error: There are no enabled repositories in \"/etc/yum.repos.d\", \"/etc/yum/repos.d\", \"/etc/distro.repos.d\".\n");
    }
    install(sh, names, assume_yes)
}

/// Resolves `names` against the repository and installs what is missing.
fn install(sh: &mut Shell, names: &[&str], assume_yes: bool) -> Output {
    let mut out = Output::ok("Last metadata expiration check: 0:00:01 ago.\n");
    let installed = lock(sh.guest).packages.clone();
    let mut new = Vec::new();
    for name in names {
        match packages::named(name) {
            Some(p) if installed.contains(&p.name) => out
                .stdout
                .push_str(&format!("Package {name} is already installed.\n")),
            Some(p) => new.push(p.name),
            None => {
                out.stdout
                    .push_str(&format!("No match for argument: {name}\n"));
                out.stderr
                    .push_str(&format!("Error: Unable to find a match: {name}\n"));
                out.code = 1;
            }
        }
    }
    if out.code != 0 {
        return out;
    }
    out.stdout.push_str("Dependencies resolved.\n");
    if new.is_empty() {
        out.stdout.push_str("Nothing to do.\nComplete!\n");
        return out;
    }
    let listed: String = new.iter().map(|n| format!(" {n}\n")).collect();
    out.stdout.push_str(&format!("Installing:\n{listed}\n"));
    if !assume_yes {
        // No terminal to answer the question: dnf reads end of file and gives up.
        out.stdout
            .push_str("Is this ok [y/N]: Operation aborted.\n");
        out.code = 1;
        return out;
    }
    lock(sh.guest).packages.extend(&new);
    let done: String = new.iter().map(|n| format!("  {n}\n")).collect();
    out.stdout
        .push_str(&format!("Installed:\n{done}\nComplete!\n"));
    out
}

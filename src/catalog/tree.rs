//! Reading a tree of STPs from disk: the project's `stps/`, or a checkout of the design-docs
//! repository that holds its STPs below `stps/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::model::{Lint, Problem};
use crate::stp::{self, Plan};

/// Every `*.md` below `root`, sorted, as (path relative to root with `/`, full path).
pub fn stp_files(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>();
                found.push((rel.join("/"), path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Where the STPs of `root` are: `root` itself, or `root/stps` when `root` is a checkout of a
/// repository that keeps them there (the design-docs repository, or this one).
pub fn stp_root(root: &Path) -> PathBuf {
    let nested = root.join("stps");
    if nested.is_dir() {
        nested
    } else {
        root.to_path_buf()
    }
}

/// What a tree holds: its STPs by path relative to the STP root, the problems that make a
/// named STP unreadable, and the files read but not STPs.
#[derive(Default)]
pub(super) struct Tree {
    pub plans: BTreeMap<String, Plan>,
    pub problems: Vec<Problem>,
    pub unread: Vec<Lint>,
}

/// Parses every STP below `root`. A file that cannot be read as an STP is a problem when
/// `named` (the catalogue automates it), and a lint otherwise (a tree holds READMEs and
/// templates too).
pub(super) fn read(root: &Path, named: &BTreeSet<&str>) -> Tree {
    let root = stp_root(root);
    let mut tree = Tree::default();
    let files = match stp_files(&root) {
        Ok(files) => files,
        Err(e) => {
            tree.problems.push(Problem::Stp(format!(
                "cannot read the STP folder {}: {e}; pass --stps DIR (a folder of STPs, or a \
                 checkout holding them below stps/), or run from the repository",
                root.display()
            )));
            return tree;
        }
    };
    for (rel, path) in files {
        match stp::parse_file(&path) {
            Ok(plan) => {
                tree.plans.insert(rel, plan);
            }
            Err(errors) if named.contains(rel.as_str()) => tree
                .problems
                .extend(errors.iter().map(|e| Problem::Stp(e.to_string()))),
            Err(errors) => tree.unread.extend(errors.iter().map(|e| Lint {
                stp: rel.clone(),
                automated_here: false,
                message: format!("{e}; not read as an STP"),
            })),
        }
    }
    tree
}

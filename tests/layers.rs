//! The layers of `src/` and what each may import, checked on the source: the plan layer knows
//! nothing of Kubernetes, the runner or scenario bodies; the mechanics never reach up to the
//! scenarios; scenario files hold no raw JSON; and no two files import each other, directly or
//! round a loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each layer and the layers it may import besides itself. A file's layer is its top-level
/// module, except `guest/os.rs`, the leaf the plan layer names a guest OS with.
const LAYERS: &[(&str, &[&str])] = &[
    ("guest::os", &[]),
    ("stp", &[]),
    ("plan", &["guest::os"]),
    ("catalog", &["stp", "plan"]),
    ("cluster", &["plan", "guest::os"]),
    ("guest", &["cluster", "guest::os"]),
    ("vm", &["cluster", "guest", "guest::os"]),
    ("ctx", &["cluster", "guest", "guest::os", "vm"]),
    (
        "scenarios",
        &["plan", "ctx", "vm", "cluster", "guest", "guest::os"],
    ),
    (
        "runner",
        &[
            "stp",
            "plan",
            "catalog",
            "cluster",
            "guest",
            "guest::os",
            "ctx",
            "scenarios",
        ],
    ),
];

/// What a scenario file must not contain: it says what the STP says through the VM handle.
const RAW_IN_SCENARIOS: &[&str] = &["serde_json", "json!", "kube::api"];

/// A JSON read by key (`vmi["status"]`): a string index right after a value.
fn indexes_json(code: &str) -> bool {
    code.match_indices("[\"").any(|(at, _)| {
        let before = code[..at].chars().last();
        before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | ']' | ')'))
    })
}

struct File {
    /// Module path, e.g. ["cluster", "wait", "condition"].
    module: Vec<String>,
    /// The text that counts: comments and in-file tests removed.
    code: String,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files() -> Vec<(PathBuf, File)> {
    let mut found = Vec::new();
    let mut dirs = vec![src()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("readable");
                found.push((
                    path.clone(),
                    File {
                        module: module_of(&path),
                        code: code_of(&text),
                    },
                ));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn module_of(path: &Path) -> Vec<String> {
    let rel = path
        .strip_prefix(src())
        .expect("below src")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn code_of(text: &str) -> String {
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or("");
    before_tests
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (&text[..end], &text[end..])
}

/// Every module path a file names through `crate::…` or `super::…`, resolved from the root,
/// with the members of a `{…}` group each as their own path.
fn imports(file: &File) -> Vec<Vec<String>> {
    // `super::` is the parent of the file's own module, whatever file holds it.
    let here = &file.module;
    let mut found = Vec::new();
    let code = &file.code;
    for (at, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let preceded = code[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if preceded {
            continue;
        }
        let mut rest = &code[at..];
        let mut base = if rest.starts_with("crate::") {
            Vec::new()
        } else {
            here.clone()
        };
        rest = rest.strip_prefix("crate::").unwrap_or(rest);
        while let Some(after) = rest.strip_prefix("super::") {
            base.pop();
            rest = after;
        }
        found.extend(paths_from(base, rest));
    }
    found
}

fn paths_from(mut base: Vec<String>, mut rest: &str) -> Vec<Vec<String>> {
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let inside = &group[..group.find('}').unwrap_or(group.len())];
            return inside
                .split(',')
                .map(|member| {
                    let (name, _) = ident_at(member.trim());
                    let mut p = base.clone();
                    if !name.is_empty() && name != "self" {
                        p.push(name.to_string());
                    }
                    p
                })
                .collect();
        }
        let (name, after) = ident_at(rest);
        if name.is_empty() {
            return vec![base];
        }
        base.push(name.to_string());
        match after.strip_prefix("::") {
            Some(more) => rest = more,
            None => return vec![base],
        }
    }
}

fn layer_of(module: &[String]) -> String {
    match module {
        [g, os, ..] if g == "guest" && os == "os" => "guest::os".into(),
        [top, ..] => top.clone(),
        [] => "lib".into(),
    }
}

#[test]
fn every_layer_imports_only_what_it_may() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut broken = BTreeSet::new();
    for (path, file) in files() {
        let from = layer_of(&file.module);
        let Some(may) = allowed.get(from.as_str()) else {
            continue;
        };
        for target in imports(&file) {
            let to = layer_of(&target);
            if to != from && to != "lib" && !may.contains(&to.as_str()) {
                broken.insert(format!(
                    "{}: layer `{from}` imports `{}` (layer `{to}`); it may import only {may:?}",
                    path.strip_prefix(src()).unwrap().display(),
                    target.join("::"),
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer boundaries broken:\n{}",
        broken.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn scenario_files_hold_no_raw_json_or_api_calls() {
    let mut found = Vec::new();
    for (path, file) in files() {
        if layer_of(&file.module) != "scenarios" {
            continue;
        }
        for raw in RAW_IN_SCENARIOS {
            if file.code.contains(raw) {
                found.push(format!("{}: `{raw}`", path.display()));
            }
        }
        if indexes_json(&file.code) {
            found.push(format!("{}: a JSON read by key", path.display()));
        }
    }
    assert!(
        found.is_empty(),
        "scenarios reach below the VM handle:\n{}",
        found.join("\n")
    );
}

/// The file a module path lands in: the longest prefix that is a file.
fn file_of<'a>(target: &[String], modules: &'a BTreeSet<Vec<String>>) -> Option<&'a Vec<String>> {
    (1..=target.len())
        .rev()
        .find_map(|n| modules.get(&target[..n]))
}

#[test]
fn no_two_files_import_each_other_round_a_loop() {
    let all = files();
    let modules: BTreeSet<Vec<String>> = all.iter().map(|(_, f)| f.module.clone()).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (_, file) in &all {
        let to = edges.entry(file.module.clone()).or_default();
        for target in imports(file) {
            if let Some(t) = file_of(&target, &modules).filter(|t| **t != file.module) {
                to.insert(t.clone());
            }
        }
    }
    let loops = loops(&edges);
    assert!(
        loops.is_empty(),
        "import cycles between files:\n{}",
        loops
            .iter()
            .map(|c| c.join(" -> "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// One loop per strongly connected group of files, found by depth-first search: a file met
/// again while still on the path closes a loop.
fn loops(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    fn visit(
        at: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(start) = path.iter().position(|p| p == at) {
            let mut cycle: Vec<String> = path[start..].iter().map(|m| m.join("/")).collect();
            cycle.push(at.join("/"));
            found.push(cycle);
            return;
        }
        if !done.insert(at.clone()) {
            return;
        }
        path.push(at.clone());
        for next in edges.get(at).into_iter().flatten() {
            visit(next, edges, path, done, found);
        }
        path.pop();
    }
    let (mut done, mut found) = (BTreeSet::new(), Vec::new());
    for start in edges.keys() {
        visit(start, edges, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn the_checks_see_a_broken_boundary_and_a_loop() {
    let file = File {
        module: vec!["plan".into(), "x".into()],
        code: "use crate::cluster::kinds;\nuse super::{needs::Needs, declaration};".into(),
    };
    let seen = imports(&file);
    assert_eq!(seen[0], ["cluster", "kinds"]);
    assert_eq!(seen[1], ["plan", "needs"]);
    assert_eq!(layer_of(&seen[0]), "cluster");
    let a = vec!["a".to_string()];
    let b = vec!["b".to_string()];
    let edges = BTreeMap::from([
        (a.clone(), BTreeSet::from([b.clone()])),
        (b, BTreeSet::from([a])),
    ]);
    assert_eq!(loops(&edges), [["a", "b", "a"]]);
    assert!(indexes_json(r#"vmi["status"]["phase"]"#));
    assert!(!indexes_json(r#".ids(&["CNV-1"])"#));
}

//! The diagnostics folder: size-capped files, and the errors met while filling it, written to
//! `errors.txt` at the end rather than stopping the collection.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cluster::kinds::Kind;

/// Bytes per file and per folder.
pub const FILE_CAP: usize = 256 * 1024;
const FOLDER_CAP: usize = 4 * 1024 * 1024;

pub struct Folder {
    dir: PathBuf,
    written: usize,
    errors: Vec<String>,
}

impl Folder {
    pub fn new(dir: &Path) -> Folder {
        let mut errors = Vec::new();
        if let Err(e) = std::fs::create_dir_all(dir) {
            errors.push(format!("cannot create {}: {e}", dir.display()));
        }
        Folder {
            dir: dir.into(),
            written: 0,
            errors,
        }
    }

    /// `<plural>.yaml` with `items`, when there are any.
    pub fn objects(&mut self, kind: &Kind, items: &[Value]) {
        if items.is_empty() {
            return;
        }
        let text = serde_saphyr::to_string(&items).unwrap_or_else(|e| format!("# {e}"));
        self.write(&format!("{}.yaml", kind.plural), &text);
    }

    pub fn error(&mut self, what: String) {
        self.errors.push(what);
    }

    pub fn write(&mut self, name: &str, text: &str) {
        let room = FOLDER_CAP.saturating_sub(self.written).min(FILE_CAP);
        if room == 0 {
            self.errors
                .push(format!("{name}: left out, the folder reached its cap"));
            return;
        }
        let mut body: String = text.chars().take(room).collect();
        if body.len() < text.len() {
            body += "\n# … cut: the file reached its size cap\n";
        }
        self.written += body.len();
        if let Err(e) = std::fs::write(self.dir.join(name), body) {
            self.errors.push(format!("{name}: {e}"));
        }
    }

    pub fn finish(mut self) {
        if !self.errors.is_empty() {
            let text = std::mem::take(&mut self.errors).join("\n");
            let _ = std::fs::write(self.dir.join("errors.txt"), text);
        }
    }
}

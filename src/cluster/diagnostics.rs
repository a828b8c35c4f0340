//! What a person needs to see after a failure, saved before teardown removes it: the YAML of
//! the scenario's VMs, VMIs, migrations, pods, NADs, UDNs and events, and of the cluster-scoped
//! objects the run owns (NNCPs with their enactments, MigrationPolicies, CUDNs). Each file and
//! the whole folder are size-capped, so a runaway list cannot fill a CI disk.

use std::path::{Path, PathBuf};

use kube::api::ListParams;
use serde_json::Value;

use super::kinds::to_value;
use super::kinds::{self, Kind};
use super::scope::{Scope, RUN_LABEL};

/// Bytes per file and per folder.
const FILE_CAP: usize = 256 * 1024;
const FOLDER_CAP: usize = 4 * 1024 * 1024;

const NAMESPACED: [Kind; 8] = [
    kinds::VM,
    kinds::VMI,
    kinds::VMIM,
    kinds::POD,
    kinds::NAD,
    kinds::UDN,
    kinds::EVENT,
    kinds::CONFIG_MAP,
];

/// Writes the diagnostics of `scope` below `dir`; returns the folder. Objects that cannot be
/// read are noted in `errors.txt` rather than stopping the collection.
pub async fn collect(scope: &Scope, dir: &Path, extra: &[(String, String)]) -> PathBuf {
    let dir = dir.join("diagnostics");
    let mut folder = Folder::new(&dir);
    for kind in NAMESPACED {
        let listed = kind
            .api(scope.client(), scope.ns())
            .list(&Default::default())
            .await;
        folder.objects(&kind, listed);
    }
    let owned = ListParams::default().labels(&format!("{RUN_LABEL}={}", scope.run_id()));
    for kind in kinds::CLUSTER_SCOPED_OWNED.into_iter().chain([kinds::NNCE]) {
        let params = if kind == kinds::NNCE {
            ListParams::default()
        } else {
            owned.clone()
        };
        let listed = kind.api(scope.client(), "").list(&params).await;
        folder.objects(&kind, listed);
    }
    for (name, text) in extra {
        folder.write(name, text);
    }
    folder.finish();
    dir
}

struct Folder {
    dir: PathBuf,
    written: usize,
    errors: Vec<String>,
}

impl Folder {
    fn new(dir: &Path) -> Folder {
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

    fn objects(
        &mut self,
        kind: &Kind,
        listed: kube::Result<kube::core::ObjectList<kube::api::DynamicObject>>,
    ) {
        match listed {
            Ok(list) if list.items.is_empty() => {}
            Ok(list) => {
                let items: Vec<Value> = list.items.iter().map(to_value).collect();
                let text = serde_saphyr::to_string(&items).unwrap_or_else(|e| format!("# {e}"));
                self.write(&format!("{}.yaml", kind.plural), &text);
            }
            Err(e) => self.errors.push(format!("{}: {e}", kind.plural)),
        }
    }

    fn write(&mut self, name: &str, text: &str) {
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

    fn finish(mut self) {
        if !self.errors.is_empty() {
            let text = std::mem::take(&mut self.errors).join("\n");
            let _ = std::fs::write(self.dir.join("errors.txt"), text);
        }
    }
}

//! What a person needs to see after a failure, saved before teardown removes it: the YAML of
//! the scenario's VMs, VMIs, migrations, pods, PVCs, DataVolumes, NADs, UDNs, events and
//! ConfigMaps, and of the cluster-scoped objects the run owns (NNCPs with their enactments,
//! MigrationPolicies, CUDNs); the NodeNetworkStates of the nodes the scenario used
//! (nodes.rs); the virt-launcher logs and what each guest's serial console shows (guest.rs).
//! Each file and the whole folder are size-capped, so a runaway list cannot fill a CI disk.

mod folder;
mod guest;
mod nodes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use crate::cluster::kinds::to_value;
use crate::cluster::kinds::{self, Kind};
use crate::cluster::scope::{Scope, RUN_LABEL};
use folder::Folder;

const NAMESPACED: [Kind; 10] = [
    kinds::VM,
    kinds::VMI,
    kinds::VMIM,
    kinds::POD,
    kinds::PVC,
    kinds::NAD,
    kinds::UDN,
    // Where a primary UDN keeps a VM's address: what explains an address lost or not honoured.
    kinds::IPAM_CLAIM,
    kinds::EVENT,
    kinds::CONFIG_MAP,
];

/// What was listed, by plural.
type Listed = BTreeMap<&'static str, Vec<Value>>;

/// What the diagnostics of a scope found worth saying in the verdict.
pub struct Collected {
    pub dir: PathBuf,
    /// `<vmi>: <line>` for each guest whose serial console shows its kernel crashed.
    pub guest_crashes: Vec<String>,
}

/// Writes the diagnostics of `scope` below `dir`. Objects that cannot be read are noted in
/// `errors.txt` rather than stopping the collection.
pub async fn collect(scope: &Scope, dir: &Path, extra: &[(String, String)]) -> Collected {
    let dir = dir.join("diagnostics");
    let mut folder = Folder::new(&dir);
    let mut listed = Listed::new();
    for kind in NAMESPACED {
        let api = kind.api(scope.client(), scope.ns());
        let items = list(&mut folder, &kind, &api, &ListParams::default()).await;
        folder.objects(&kind, &items);
        listed.insert(kind.plural, items);
    }
    data_volumes(scope, &mut folder).await;
    let owned = ListParams::default().labels(&format!("{RUN_LABEL}={}", scope.run_id()));
    for kind in kinds::CLUSTER_SCOPED_OWNED.into_iter().chain([kinds::NNCE]) {
        let params = if kind == kinds::NNCE {
            ListParams::default()
        } else {
            owned.clone()
        };
        let api = kind.api(scope.client(), "");
        let items = list(&mut folder, &kind, &api, &params).await;
        folder.objects(&kind, &items);
        listed.insert(kind.plural, items);
    }
    nodes::collect(scope, &listed, &mut folder).await;
    let empty = Vec::new();
    let pods = listed.get(kinds::POD.plural).unwrap_or(&empty);
    let vmis = listed.get(kinds::VMI.plural).unwrap_or(&empty);
    guest::launcher_logs(scope, pods, &mut folder).await;
    let guest_crashes = guest::serial_consoles(scope, vmis, pods, &mut folder).await;
    for (name, text) in extra {
        folder.write(name, text);
    }
    folder.finish();
    Collected { dir, guest_crashes }
}

/// The objects `api` lists, or none with the error noted.
async fn list(
    folder: &mut Folder,
    kind: &Kind,
    api: &Api<DynamicObject>,
    params: &ListParams,
) -> Vec<Value> {
    match api.list(params).await {
        Ok(list) => list.items.iter().map(to_value).collect(),
        Err(e) => {
            folder.error(format!("{}: {e}", kind.plural));
            Vec::new()
        }
    }
}

/// The scenario's DataVolumes; a cluster without CDI does not serve the resource (404), which
/// is recorded as such rather than as an error.
async fn data_volumes(scope: &Scope, folder: &mut Folder) {
    let kind = kinds::DATA_VOLUME;
    let api = kind.api(scope.client(), scope.ns());
    match api.list(&ListParams::default()).await {
        Ok(list) => {
            let items: Vec<Value> = list.items.iter().map(to_value).collect();
            folder.objects(&kind, &items);
        }
        Err(kube::Error::Api(status)) if status.code == 404 => folder.write(
            "datavolumes.yaml",
            &format!(
                "# CDI not installed: the API server does not serve {}/{} datavolumes\n",
                kind.group, kind.version
            ),
        ),
        Err(e) => folder.error(format!("{}: {e}", kind.plural)),
    }
}

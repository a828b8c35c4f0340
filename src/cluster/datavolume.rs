//! A VM's cloned root disk: KubeVirt starts no VMI until the DataVolumes of its
//! `dataVolumeTemplates` are populated (kubevirt pkg/virt-controller/watch/vm/vm.go
//! `handleDataVolumes`), so a boot from a DataSource image first waits for the clone, and says
//! where the clone stood when the budget ran out.

use std::time::Duration;

use serde_json::Value;

use super::kinds::{self, to_value};
use super::retry::retrying;
use super::wait::condition::{conditions, is};
use super::wait::{WaitError, Watch};

/// Until DataVolume `ns/name` is Succeeded; Failed ends the wait at once. CDI keeps a clone
/// whose source is missing in its phase with Ready False (CloneWithoutSource) and retries, so
/// that one waits out the budget; the timeout names its phase, progress and conditions.
pub async fn populated(
    client: &kube::Client,
    ns: &str,
    name: &str,
    budget: Duration,
) -> Result<Value, WaitError> {
    let succeeded = is("DataVolume phase Succeeded (cloned, PVC bound)", |dv| {
        dv["status"]["phase"] == "Succeeded"
    });
    Watch::object(client, kinds::DATA_VOLUME, ns, name)
        .failing_on(conditions::phase("Failed"))
        .until_met(&succeeded, budget)
        .await
}

/// The VM's Failure condition, read once a root-disk wait has failed: KubeVirt says there why it
/// created no DataVolume (a DataSource it cannot find: `handleDataVolumes` → FailedCreate).
pub async fn vm_failure(client: &kube::Client, ns: &str, vm: &str) -> Option<String> {
    let api = kinds::VM.api(client, ns);
    let found = retrying(|| api.get_opt(vm)).await.ok()??;
    let found = to_value(&found);
    let failure = found["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Failure" && c["status"] == "True")?;
    Some(format!(
        "VM {vm} Failure ({}): {}",
        failure["reason"].as_str().unwrap_or(""),
        failure["message"].as_str().unwrap_or("")
    ))
}

//! What Windows scenarios need besides the cluster's APIs: an image, and the cluster
//! preference the settings name, which KubeVirt must find before it starts any VM naming it
//! (kubevirt v1.9.0 pkg/instancetype/controller/vm/controller.go `checkResourcesExist`).

use super::super::kinds;
use super::super::profile::Profile;
use super::super::retry::retrying;

pub fn image(profile: &Profile, configured: bool) -> Result<String, String> {
    if configured {
        Ok(format!("Windows image {:?}", profile.windows_image))
    } else {
        Err("no Windows image configured (set windows_image in vstp.toml)".into())
    }
}

/// Whether the VirtualMachineClusterPreference `name` exists.
pub async fn preference(client: &kube::Client, name: &str) -> Result<String, String> {
    let api = kinds::VM_CLUSTER_PREFERENCE.api(client, "");
    match retrying(|| api.get_opt(name)).await {
        Ok(Some(_)) => Ok(format!("Windows VMs name the cluster preference {name:?}")),
        Ok(None) => Err(format!(
            "the cluster preference {name:?} named by guest.windows_preference does not exist \
             (`kubectl get virtualmachineclusterpreferences` lists those that do)"
        )),
        Err(e) => Err(format!(
            "the cluster preference {name:?} named by guest.windows_preference cannot be read: {e}"
        )),
    }
}

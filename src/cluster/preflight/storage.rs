//! Storage: the class a scenario's ReadWriteOnce claim lands on, and the class a DataSource
//! root disk is cloned onto, which must give ReadWriteMany block volumes for the VM to
//! live-migrate (the DataVolume asks for them, build/vm.rs `data_volume_templates`).

use kube::api::ListParams;
use serde_json::Value;

use super::super::build::vm::Image;
use super::super::kinds::{self, to_value};
use super::super::retry::retrying;

/// Kubernetes' default-class annotation (pkg/volume/util `IsDefaultAnnotation`): a claim
/// without `storageClassName` gets the class carrying it.
const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// CDI's default class for VM disks, preferred to the cluster default for a DataVolume of
/// kubevirt content (containerized-data-importer pkg/controller/common
/// `AnnDefaultVirtStorageClass`, `getFallbackStorageClass`).
const DEFAULT_VIRT_CLASS: &str = "storageclass.kubevirt.io/is-default-virt-class";

async fn classes(client: &kube::Client) -> Result<Vec<Value>, String> {
    let (params, api) = (ListParams::default(), kinds::STORAGE_CLASS.all(client));
    let list = retrying(|| api.list(&params))
        .await
        .map_err(|e| format!("StorageClasses cannot be listed: {e}"))?;
    Ok(list.items.iter().map(to_value).collect())
}

fn annotated<'a>(classes: &'a [Value], annotation: &str) -> Option<&'a str> {
    classes
        .iter()
        .find(|c| c["metadata"]["annotations"][annotation] == "true")
        .and_then(|c| c["metadata"]["name"].as_str())
}

fn named<'a>(classes: &'a [Value], name: &str) -> Option<&'a str> {
    classes
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .find(|n| *n == name)
}

/// The class a ReadWriteOnce claim of the scenarios gets: `configured` (settings
/// `storage.class`) if it exists, else the cluster's default class.
pub async fn claim_class(
    client: &kube::Client,
    configured: Option<&str>,
) -> Result<String, String> {
    let all = classes(client).await?;
    match configured {
        Some(name) => named(&all, name)
            .map(|n| format!("claims use StorageClass {n} (storage.class)"))
            .ok_or_else(|| format!("StorageClass {name:?} named by storage.class does not exist (`kubectl get storageclass` lists those that do)")),
        None => annotated(&all, DEFAULT_CLASS)
            .map(|n| format!("claims use the default StorageClass {n}"))
            .ok_or_else(|| format!("no StorageClass is annotated {DEFAULT_CLASS}=true and storage.class names none: a claim without a class stays Pending")),
    }
}

/// Whether the class a DataSource root disk of `image` is cloned onto offers ReadWriteMany
/// block volumes, as its CDI StorageProfile says (`status.claimPropertySets`).
pub async fn root_disk(client: &kube::Client, image: &Image) -> Result<String, String> {
    let Image::DataSource {
        name,
        storage_class,
        ..
    } = image
    else {
        return Ok(format!("root disk {image:?} needs no storage class"));
    };
    let all = classes(client).await?;
    let class = match storage_class {
        Some(class) => named(&all, class).ok_or_else(|| {
            format!("StorageClass {class:?} named by storage.class does not exist")
        })?,
        None => annotated(&all, DEFAULT_VIRT_CLASS)
            .or_else(|| annotated(&all, DEFAULT_CLASS))
            .ok_or_else(|| format!("DataSource {name} root disks need a class: set storage.class, or annotate one {DEFAULT_VIRT_CLASS}=true"))?,
    };
    let api = kinds::STORAGE_PROFILE.api(client, "");
    let profile = retrying(|| api.get_opt(class))
        .await
        .map_err(|e| format!("the CDI StorageProfile {class} cannot be read: {e}"))?
        .map(|p| to_value(&p))
        .ok_or_else(|| format!("CDI has no StorageProfile {class}: is CDI installed?"))?;
    let sets = &profile["status"]["claimPropertySets"];
    let rwx_block = sets.as_array().is_some_and(|all| {
        all.iter().any(|s| {
            s["volumeMode"] == "Block"
                && s["accessModes"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|a| a == "ReadWriteMany"))
        })
    });
    if rwx_block {
        Ok(format!(
            "DataSource {name} root disks on {class}: ReadWriteMany Block"
        ))
    } else {
        Err(format!("StorageClass {class} has no ReadWriteMany Block in its StorageProfile ({sets}): VMs with DataSource {name} root disks cannot live-migrate; set storage.class to a class that has (ceph RBD does)"))
    }
}

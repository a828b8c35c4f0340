//! Golden images: a DataSource root disk can only be cloned once CDI has imported the image
//! (its DataSource is Ready). An image not imported is told as such before any VM waits on
//! a clone that never starts.

use super::super::build::vm::Image;
use super::super::kinds::{self, to_value};
use super::super::retry::retrying;

/// Whether the DataSource behind `image` is Ready (containerized-data-importer
/// pkg/controller/datasource-controller.go `update`: Ready True only once its source PVC or
/// snapshot exists; `NoSource` when the import never set one).
pub async fn imported(client: &kube::Client, image: &Image) -> Result<String, String> {
    let Image::DataSource {
        name, namespace, ..
    } = image
    else {
        return Ok(format!("root disk {image:?} needs no import"));
    };
    let api = kinds::DATA_SOURCE.api(client, namespace);
    let found = retrying(|| api.get_opt(name))
        .await
        .map_err(|e| format!("DataSource {namespace}/{name} cannot be read: {e}"))?
        .map(|d| to_value(&d))
        .ok_or_else(|| format!("image not imported: DataSource {namespace}/{name} does not exist (`kubectl get datasources -n {namespace}` lists the images)"))?;
    let ready = found["status"]["conditions"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    if ready["status"] == "True" {
        return Ok(format!("DataSource {namespace}/{name} is Ready"));
    }
    let text = |k: &str| {
        ready[k]
            .as_str()
            .unwrap_or("no Ready condition yet")
            .to_string()
    };
    Err(format!(
        "image not imported: DataSource {namespace}/{name} is not Ready ({}: {}); its VMs' root disks cannot be cloned",
        text("reason"),
        text("message")
    ))
}

//! KubeMacPool's MAC range, read once per run so the harness's own MACs fall in it.
//!
//! KubeMacPool reads its range from ConfigMap `kubemacpool-mac-range-config` (keys
//! `RANGE_START`, `RANGE_END`) in the namespace it runs in: `openshift-cnv` on OpenShift
//! Virtualization, where CNAO renders a random 02:xx:xx:00:00:00–02:xx:xx:ff:ff:ff block
//! unless NetworkAddonsConfig names one (kubemacpool pkg/controller/configmap
//! `parseRangesFromConfigMap`; cluster-network-addons-operator pkg/network/kubemacpool.go).
//! The ConfigMap is looked for by name in every namespace so any deployment is found.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

use super::build::mac::{MacPool, MacRange};

pub const RANGE_CONFIG: &str = "kubemacpool-mac-range-config";

/// The run's MAC pool and a line saying where its range comes from (printed with preflight):
/// KubeMacPool's range when the cluster has a usable one, else the locally administered block.
pub async fn run_pool(client: &kube::Client, run_id: &str) -> (MacPool, String) {
    let (range, origin) = match configured_range(client).await {
        Ok(Some((range, origin))) => (range, format!("KubeMacPool's range ({origin})")),
        Ok(None) => (
            MacRange::LOCAL,
            format!("the locally administered block: no ConfigMap {RANGE_CONFIG} on the cluster"),
        ),
        Err(why) => (
            MacRange::LOCAL,
            format!("the locally administered block: {why}"),
        ),
    };
    let line = format!("MACs of the run from {range}, {origin}");
    (MacPool::new(range, run_id), line)
}

/// The range of the first ConfigMap named so, with its namespace; an unreadable or invalid one
/// is an error saying what to fix.
async fn configured_range(client: &kube::Client) -> Result<Option<(MacRange, String)>, String> {
    let configs: Api<ConfigMap> = Api::all(client.clone());
    let by_name = ListParams::default().fields(&format!("metadata.name={RANGE_CONFIG}"));
    let found = configs.list(&by_name).await.map_err(|e| {
        format!("cannot list ConfigMaps named {RANGE_CONFIG} ({e}); grant list on configmaps to use KubeMacPool's range")
    })?;
    let Some(config) = found.items.into_iter().next() else {
        return Ok(None);
    };
    let ns = config.metadata.namespace.unwrap_or_default();
    let data = config.data.unwrap_or_default();
    let key = |k: &str| data.get(k).map(String::as_str).unwrap_or("");
    let range = MacRange::parse(key("RANGE_START"), key("RANGE_END"))
        .map_err(|why| format!("{ns}/{RANGE_CONFIG} does not hold a usable range: {why}"))?;
    Ok(Some((range, format!("{ns}/{RANGE_CONFIG}"))))
}

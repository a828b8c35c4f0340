//! The Node objects the cluster starts with: the tidy control planes and workers of its
//! spec, then the untidy nodes a real cluster also has.

use serde_json::Value;

use super::spec::ClusterSpec;
use super::untidy;

pub fn node_objects(spec: &ClusterSpec) -> Vec<Value> {
    let control =
        (0..spec.control_planes).map(|i| spec.node(&format!("control-plane-{i}"), false, i));
    let workers = (0..spec.workers).map(|i| spec.node(&format!("worker-{i}"), true, 10 + i));
    let mut all: Vec<Value> = control.chain(workers).collect();
    if spec.untidy {
        all.extend(untidy::nodes(spec));
    }
    all
}

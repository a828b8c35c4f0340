//! Volumes a scenario needs besides the root disk.

use serde_json::{json, Value};

/// A ReadWriteOnce claim of `size` on `class` (the default class when None).
pub fn rwo_claim(name: &str, size: &str, class: Option<&str>) -> Value {
    let mut claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}});
    if let Some(class) = class {
        claim["spec"]["storageClassName"] = json!(class);
    }
    claim
}

//! The YAML bases of `manifests/`, compiled in and parsed on use.

use serde_json::{json, Value};

const VM: &str = include_str!("../../../manifests/vm.yaml");
const NNCP: &str = include_str!("../../../manifests/nncp.yaml");
const NAD: &str = include_str!("../../../manifests/nad.yaml");
const MIGRATION_POLICY: &str = include_str!("../../../manifests/migration-policy.yaml");
const UDN: &str = include_str!("../../../manifests/udn.yaml");
const CUDN: &str = include_str!("../../../manifests/cudn.yaml");

fn parse(text: &str, name: &str) -> Value {
    // The bases are part of the source tree and tested below; a broken one is a build defect.
    let mut base: Value = serde_saphyr::from_str(text)
        .unwrap_or_else(|e| panic!("manifests/{name} is not valid YAML: {e}"));
    base["metadata"]["name"] = json!(name);
    base
}

pub fn vm(name: &str) -> Value {
    parse(VM, name)
}

pub fn nncp(name: &str) -> Value {
    parse(NNCP, name)
}

pub fn nad(name: &str) -> Value {
    parse(NAD, name)
}

pub fn migration_policy(name: &str) -> Value {
    parse(MIGRATION_POLICY, name)
}

pub fn udn(name: &str) -> Value {
    parse(UDN, name)
}

pub fn cudn(name: &str) -> Value {
    parse(CUDN, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_base_parses_and_takes_its_name() {
        for (base, kind) in [
            (vm("a"), "VirtualMachine"),
            (nncp("a"), "NodeNetworkConfigurationPolicy"),
            (nad("a"), "NetworkAttachmentDefinition"),
            (migration_policy("a"), "MigrationPolicy"),
            (udn("a"), "UserDefinedNetwork"),
            (cudn("a"), "ClusterUserDefinedNetwork"),
        ] {
            assert_eq!(
                (base["kind"].as_str(), base["metadata"]["name"].as_str()),
                (Some(kind), Some("a"))
            );
        }
    }
}

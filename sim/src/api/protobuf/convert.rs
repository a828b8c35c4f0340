//! From kube-rs' generated protobuf types (k8s-pb, no serde) to k8s-openapi's types (serde, the
//! JSON the API server writes), field by field: both are generated from the same upstream Go
//! types and share field names. Every protobuf struct is destructured without `..`, so a field
//! k8s-pb adds fails the build instead of being dropped. Go's `omitempty` (a zero value is not
//! written) is applied here, because protobuf carries Go's zero values (`name: ""`) that Go's
//! JSON encoder would leave out.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as json;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as json_meta;
use k8s_openapi::ByteString;
use k8s_pb::api::core::v1 as pb;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb_meta;

/// What went wrong, as `field: problem`.
pub type Converted<T> = Result<T, String>;

/// A string field with `omitempty`.
fn text(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// A map with `omitempty`.
fn map<V>(m: BTreeMap<String, V>) -> Option<BTreeMap<String, V>> {
    (!m.is_empty()).then_some(m)
}

/// A slice with `omitempty`.
fn list<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn bytes(m: BTreeMap<String, Vec<u8>>) -> Option<BTreeMap<String, ByteString>> {
    map(m.into_iter().map(|(k, v)| (k, ByteString(v))).collect())
}

/// metav1.Time as apimachinery v1.33 pkg/apis/meta/v1/time_proto.go `Time.Unmarshal` reads it:
/// an empty message is Go's zero time (JSON null, left out here); otherwise whole seconds
/// since the epoch, nanos ignored. k8s-openapi writes it as RFC 3339, as `Time.MarshalJSON`.
fn time(t: Option<pb_meta::Time>, field: &str) -> Converted<Option<json_meta::Time>> {
    let seconds = match t {
        None
        | Some(pb_meta::Time {
            seconds: None,
            nanos: None,
        }) => return Ok(None),
        Some(pb_meta::Time { seconds, nanos: _ }) => seconds.unwrap_or(0),
    };
    k8s_openapi::jiff::Timestamp::new(seconds, 0)
        .map(|t| Some(json_meta::Time(t)))
        .map_err(|e| format!("{field}: {e}"))
}

pub fn object_meta(m: Option<pb_meta::ObjectMeta>) -> Converted<json_meta::ObjectMeta> {
    let pb_meta::ObjectMeta {
        name,
        generate_name,
        namespace,
        self_link,
        uid,
        resource_version,
        generation,
        creation_timestamp,
        deletion_timestamp,
        deletion_grace_period_seconds,
        labels,
        annotations,
        owner_references,
        finalizers,
        managed_fields,
    } = m.unwrap_or_default();
    let managed: Converted<Vec<_>> = managed_fields.into_iter().map(managed_entry).collect();
    Ok(json_meta::ObjectMeta {
        name: text(name),
        generate_name: text(generate_name),
        namespace: text(namespace),
        self_link: text(self_link),
        uid: text(uid),
        resource_version: text(resource_version),
        generation: generation.filter(|g| *g != 0),
        creation_timestamp: time(creation_timestamp, "metadata.creationTimestamp")?,
        deletion_timestamp: time(deletion_timestamp, "metadata.deletionTimestamp")?,
        deletion_grace_period_seconds,
        labels: map(labels),
        annotations: map(annotations),
        owner_references: list(owner_references.into_iter().map(owner).collect()),
        finalizers: list(finalizers),
        managed_fields: list(managed?),
    })
}

fn owner(o: pb_meta::OwnerReference) -> json_meta::OwnerReference {
    let pb_meta::OwnerReference {
        api_version,
        kind,
        name,
        uid,
        controller,
        block_owner_deletion,
    } = o;
    json_meta::OwnerReference {
        api_version: api_version.unwrap_or_default(),
        kind: kind.unwrap_or_default(),
        name: name.unwrap_or_default(),
        uid: uid.unwrap_or_default(),
        controller,
        block_owner_deletion,
    }
}

fn managed_entry(e: pb_meta::ManagedFieldsEntry) -> Converted<json_meta::ManagedFieldsEntry> {
    let pb_meta::ManagedFieldsEntry {
        manager,
        operation,
        api_version,
        time: at,
        fields_type,
        fields_v1,
        subresource,
    } = e;
    // FieldsV1 carries the field set as JSON bytes in both encodings.
    let fields = match fields_v1.and_then(|f| f.raw).filter(|raw| !raw.is_empty()) {
        None => None,
        Some(raw) => Some(json_meta::FieldsV1(
            serde_json::from_slice(&raw)
                .map_err(|e| format!("metadata.managedFields[].fieldsV1: {e}"))?,
        )),
    };
    Ok(json_meta::ManagedFieldsEntry {
        manager: text(manager),
        operation: text(operation),
        api_version: text(api_version),
        time: time(at, "metadata.managedFields[].time")?,
        fields_type: text(fields_type),
        fields_v1: fields,
        subresource: text(subresource),
    })
}

pub fn namespace(n: pb::Namespace) -> Converted<json::Namespace> {
    let pb::Namespace {
        metadata,
        spec,
        status,
    } = n;
    let status = match status {
        None => None,
        Some(pb::NamespaceStatus { phase, conditions }) => {
            let conditions: Converted<Vec<_>> =
                conditions.into_iter().map(namespace_condition).collect();
            Some(json::NamespaceStatus {
                phase: text(phase),
                conditions: list(conditions?),
            })
        }
    };
    Ok(json::Namespace {
        metadata: object_meta(metadata)?,
        spec: spec.map(|pb::NamespaceSpec { finalizers }| json::NamespaceSpec {
            finalizers: list(finalizers),
        }),
        status,
    })
}

fn namespace_condition(c: pb::NamespaceCondition) -> Converted<json::NamespaceCondition> {
    let pb::NamespaceCondition {
        r#type,
        status,
        last_transition_time,
        reason,
        message,
    } = c;
    Ok(json::NamespaceCondition {
        type_: r#type.unwrap_or_default(),
        status: status.unwrap_or_default(),
        last_transition_time: time(
            last_transition_time,
            "status.conditions[].lastTransitionTime",
        )?,
        reason: text(reason),
        message: text(message),
    })
}

pub fn config_map(c: pb::ConfigMap) -> Converted<json::ConfigMap> {
    let pb::ConfigMap {
        metadata,
        immutable,
        data,
        binary_data,
    } = c;
    Ok(json::ConfigMap {
        metadata: object_meta(metadata)?,
        immutable,
        data: map(data),
        binary_data: bytes(binary_data),
    })
}

pub fn secret(s: pb::Secret) -> Converted<json::Secret> {
    let pb::Secret {
        metadata,
        immutable,
        data,
        string_data,
        r#type,
    } = s;
    Ok(json::Secret {
        metadata: object_meta(metadata)?,
        immutable,
        data: bytes(data),
        string_data: map(string_data),
        type_: text(r#type),
    })
}

pub fn service_account(a: pb::ServiceAccount) -> Converted<json::ServiceAccount> {
    let pb::ServiceAccount {
        metadata,
        secrets,
        image_pull_secrets,
        automount_service_account_token,
    } = a;
    let pull = image_pull_secrets
        .into_iter()
        .map(
            |pb::LocalObjectReference { name }| json::LocalObjectReference {
                name: name.unwrap_or_default(),
            },
        );
    Ok(json::ServiceAccount {
        metadata: object_meta(metadata)?,
        secrets: list(secrets.into_iter().map(object_reference).collect()),
        image_pull_secrets: list(pull.collect()),
        automount_service_account_token,
    })
}

fn object_reference(r: pb::ObjectReference) -> json::ObjectReference {
    let pb::ObjectReference {
        kind,
        namespace,
        name,
        uid,
        api_version,
        resource_version,
        field_path,
    } = r;
    json::ObjectReference {
        kind: text(kind),
        namespace: text(namespace),
        name: text(name),
        uid: text(uid),
        api_version: text(api_version),
        resource_version: text(resource_version),
        field_path: text(field_path),
    }
}

/// DeleteOptions: a typed client's delete body (`kubectl drain --disable-eviction`). Its
/// pointer fields keep what was set, even a zero value, as Go's JSON does.
pub fn delete_options(o: pb_meta::DeleteOptions) -> Converted<json_meta::DeleteOptions> {
    let pb_meta::DeleteOptions {
        grace_period_seconds,
        preconditions,
        orphan_dependents,
        propagation_policy,
        dry_run,
        ignore_store_read_error_with_cluster_breaking_potential,
    } = o;
    let preconditions = preconditions.map(
        |pb_meta::Preconditions {
             uid,
             resource_version,
         }| json_meta::Preconditions {
            uid,
            resource_version,
        },
    );
    Ok(json_meta::DeleteOptions {
        api_version: None,
        kind: None,
        grace_period_seconds,
        preconditions,
        orphan_dependents,
        propagation_policy,
        dry_run: list(dry_run),
        ignore_store_read_error_with_cluster_breaking_potential,
    })
}

pub fn eviction(
    e: k8s_pb::api::policy::v1::Eviction,
) -> Converted<k8s_openapi::api::policy::v1::Eviction> {
    let k8s_pb::api::policy::v1::Eviction {
        metadata,
        delete_options: options,
    } = e;
    Ok(k8s_openapi::api::policy::v1::Eviction {
        metadata: object_meta(metadata)?,
        delete_options: options.map(delete_options).transpose()?,
    })
}

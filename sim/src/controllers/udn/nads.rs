//! The OVN-K NADs of a namespace as the controllers read them.

use std::sync::Arc;

use serde_json::Value;

use super::super::Ctx;
use crate::kinds;
use crate::obj;

/// The OVN-K primary network NAD of namespace `ns`, whoever wrote it.
pub fn primary_nad(ctx: &Ctx, ns: &str) -> Option<Arc<Value>> {
    ctx.list(kinds::NADS, Some(ns)).into_iter().find(|n| {
        nad_config(n).is_some_and(|c| c["type"] == "ovn-k8s-cni-overlay" && c["role"] == "primary")
    })
}

pub fn nad_config(nad: &Value) -> Option<Value> {
    serde_json::from_str(obj::str_at(nad, "/spec/config")).ok()
}

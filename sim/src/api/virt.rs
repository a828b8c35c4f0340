//! KubeVirt's `subresources.kubevirt.io` calls (VM start/stop/restart/migrate, VMI guest
//! agent queries and pause/unpause), checked here and answered by the simulated world.

use std::sync::Arc;

use axum::response::Response;
use http::Method;
use serde_json::Value;

use super::path::{Route, VirtResource};
use super::{bytes_response, json_response, ApiState, Call};
use crate::error::{ApiError, ApiResult};
use crate::world::VirtCall;

const VM_PUT: &[&str] = &["start", "stop", "restart", "migrate"];
const VMI_GET: &[&str] = &["guestosinfo", "userlist", "filesystemlist"];
const VMI_PUT: &[&str] = &[
    "pause",
    "unpause",
    "freeze",
    "unfreeze",
    "reset",
    "softreboot",
];

fn allowed(resource: VirtResource, action: &str) -> Option<Method> {
    let is = |set: &[&str]| set.contains(&action);
    match resource {
        VirtResource::VirtualMachine if is(VM_PUT) => Some(Method::PUT),
        VirtResource::VirtualMachineInstance if is(VMI_GET) => Some(Method::GET),
        VirtResource::VirtualMachineInstance if is(VMI_PUT) => Some(Method::PUT),
        _ => None,
    }
}

pub fn handle(state: &Arc<ApiState>, route: Route, call: &Call) -> ApiResult<Response> {
    let Route::Virt {
        namespace,
        resource,
        name,
        action,
        rest,
    } = route
    else {
        return Err(ApiError::path_not_found());
    };
    let method = allowed(resource, &action)
        .filter(|_| rest.is_empty())
        .ok_or_else(ApiError::path_not_found)?;
    if call.method != method {
        return Err(ApiError::method_not_allowed(call.method.as_str(), &action));
    }
    let body = call.json_body()?.unwrap_or(Value::Null);
    let virt_call = VirtCall {
        namespace: &namespace,
        name: &name,
        action: &action,
        method: call.method.as_str(),
        body: &body,
    };
    let reply = match resource {
        VirtResource::VirtualMachine => state.world.vm_call(&state.store, virt_call)?,
        VirtResource::VirtualMachineInstance => state.world.vmi_call(&state.store, virt_call)?,
    };
    Ok(match reply.body {
        Some(body) => json_response(reply.code, &body),
        None => bytes_response(reply.code, bytes::Bytes::new()),
    })
}

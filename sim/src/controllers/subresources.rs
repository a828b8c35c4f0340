//! `subresources.kubevirt.io`: VM start/stop/restart/migrate, VMI guest-agent reads,
//! pause/unpause/reset (the port-forward is in [`super::portforward`]).

use std::sync::Arc;

use serde_json::json;

use super::{admission, vm, Ctx};
use crate::error::{ApiError, ApiResult};
use crate::guest;
use crate::kinds;
use crate::obj;
use crate::world::{VirtCall, VirtReply};

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(409, "Conflict", message)
}

fn accepted() -> ApiResult<VirtReply> {
    Ok(VirtReply {
        code: 202,
        body: None,
    })
}

pub fn vm_call(ctx: &Arc<Ctx>, call: VirtCall<'_>) -> ApiResult<VirtReply> {
    let (ns, name) = (call.namespace, call.name);
    let vm = ctx
        .get(kinds::VMS, ns, name)
        .ok_or_else(|| ApiError::not_found(kinds::get(kinds::VMS), name))?;
    let vmi = ctx.get(kinds::VMIS, ns, name);
    let key = (ns.to_string(), name.to_string());
    let uses_running = !vm["spec"]["running"].is_null();
    let set_strategy = |strategy: &str, running: bool| {
        ctx.store.modify(
            kinds::VMS,
            ns,
            name,
            crate::store::Scope::Main,
            false,
            |old| {
                let mut new = (*old).clone();
                if uses_running {
                    new["spec"]["running"] = json!(running);
                } else {
                    new["spec"]["runStrategy"] = json!(strategy);
                }
                Ok(new)
            },
        )
    };
    match call.action {
        "start" => {
            if vmi.as_ref().is_some_and(|v| !obj::deleting(v)) {
                return Err(conflict("Always does not support manual start requests"));
            }
            if vm::run_strategy(&vm) == "Manual" {
                ctx.state().start_requests.insert(key.clone());
                ctx.requeue(super::Key::Vm(key.0, key.1));
            } else {
                set_strategy("Always", true)?;
            }
            accepted()
        }
        "stop" => {
            if vm::run_strategy(&vm) == "Manual" {
                ctx.delete(kinds::VMIS, ns, name);
            } else {
                set_strategy("Halted", false)?;
            }
            accepted()
        }
        "restart" => {
            if vmi.is_none() {
                return Err(conflict("VM is not running"));
            }
            ctx.state().restarts.insert(key.clone());
            ctx.requeue(super::Key::Vm(key.0, key.1));
            accepted()
        }
        "migrate" => {
            let Some(vmi) = vmi.filter(|v| obj::str_at(v, "/status/phase") == "Running") else {
                return Err(conflict("VM is not running"));
            };
            if call.body["dryRun"]
                .as_array()
                .is_some_and(|d| !d.is_empty())
            {
                return accepted();
            }
            let mut vmim = json!({"metadata": {"generateName": "kubevirt-migrate-vm-", "namespace": ns},
                                  "spec": {"vmiName": obj::name(&vmi)}});
            if let Some(selector) = call.body["addedNodeSelector"].as_object() {
                vmim["spec"]["addedNodeSelector"] = json!(selector);
            }
            admission::create_migration(ctx, vmim)?;
            accepted()
        }
        other => Err(ApiError::not_found(
            kinds::get(kinds::VMS),
            &format!("{name}/{other}"),
        )),
    }
}

pub fn vmi_call(ctx: &Arc<Ctx>, call: VirtCall<'_>) -> ApiResult<VirtReply> {
    let (ns, name) = (call.namespace, call.name);
    let vmi = ctx
        .get(kinds::VMIS, ns, name)
        .ok_or_else(|| ApiError::not_found(kinds::get(kinds::VMIS), name))?;
    let running = obj::str_at(&vmi, "/status/phase") == "Running";
    let guest = ctx.guests.get(obj::uid(&vmi));
    let now = ctx.now();
    match call.action {
        "guestosinfo" | "userlist" | "filesystemlist" => {
            if !running || obj::condition_is(&vmi, "AgentConnected") != Some(true) {
                return Err(conflict("VMI does not have guest agent connected"));
            }
            let body = match call.action {
                "guestosinfo" => {
                    json!({"guestAgentVersion": "8.2.0", "hostname": guest.as_ref().map(|g| guest::lock(g).hostname.clone()),
                                        "os": vmi["status"]["guestOSInfo"], "timezone": "UTC, 0", "supportedCommands": []})
                }
                "userlist" => json!({"items": []}),
                _ => {
                    json!({"items": [{"diskName": "vda1", "mountPoint": "/", "fileSystemType": "xfs", "totalBytes": 10737418240u64, "usedBytes": 2147483648u64}]})
                }
            };
            Ok(VirtReply {
                code: 200,
                body: Some(body),
            })
        }
        "pause" | "unpause" => {
            if !running {
                return Err(conflict("VMI is not running"));
            }
            let pause = call.action == "pause";
            let paused = obj::condition_is(&vmi, "Paused") == Some(true);
            if pause == paused {
                return Err(conflict(if pause {
                    "VMI is already paused"
                } else {
                    "VMI is not paused"
                }));
            }
            if let Some(g) = &guest {
                guest::lock(g).set_paused(pause);
            }
            if !pause {
                // UnpauseVMI resumes the domain, then tries to set the guest's time.
                let uid = obj::uid(&vmi).to_string();
                tokio::spawn(super::guest_time::set_guest_time(ctx.clone(), uid));
            }
            ctx.write(kinds::VMIS, ns, name, |v| {
                if pause {
                    obj::set_condition(
                        v,
                        "Paused",
                        true,
                        "PausedByUser",
                        "VMI was paused by user",
                        &now,
                    );
                } else {
                    obj::remove_condition(v, "Paused");
                }
            });
            Ok(VirtReply {
                code: 200,
                body: None,
            })
        }
        "reset" | "softreboot" => {
            if !running {
                return Err(conflict("VMI is not running"));
            }
            if let Some(g) = &guest {
                guest::lock(g).reboot();
            }
            Ok(VirtReply {
                code: 200,
                body: None,
            })
        }
        "freeze" | "unfreeze" => Ok(VirtReply {
            code: 200,
            body: None,
        }),
        other => Err(ApiError::not_found(
            kinds::get(kinds::VMIS),
            &format!("{name}/{other}"),
        )),
    }
}

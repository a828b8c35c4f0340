//! The seam between the API layer and the simulated world. The API server routes evictions
//! and KubeVirt's subresources here; the world (KubeVirt, NMState, OVN-K behaviour, guests)
//! implements them and runs its controllers against the store.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{ApiError, ApiResult};
use crate::kinds::KindId;
use crate::store::Store;

pub mod attach;
pub mod config;
pub mod external;
pub mod fabric;
pub mod handover;
pub mod inventory;
pub mod launcher_log;
pub mod nodes;
pub mod ovnk;
pub mod spec;
pub mod storage;
pub mod untidy;

/// A byte stream to a guest port, as the VMI port-forward websocket carries it.
pub trait GuestStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> GuestStream for T {}

/// What a KubeVirt subresource call answers: an HTTP code and an optional JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtReply {
    pub code: u16,
    pub body: Option<Value>,
}

/// A call to `subresources.kubevirt.io`.
#[derive(Debug, Clone)]
pub struct VirtCall<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// `start`, `stop`, `restart`, `migrate`, `guestosinfo`, `pause`, `unpause`, …
    pub action: &'a str,
    /// `GET` or `PUT`.
    pub method: &'a str,
    /// The request body (StartOptions, MigrateOptions, …), `null` when there was none.
    pub body: &'a Value,
}

pub trait World: Send + Sync + 'static {
    /// Starts the world's controllers; called once when the simulator starts, inside its runtime.
    fn start(self: Arc<Self>, store: Arc<Store>, faults: Arc<crate::faults::Faults>);

    /// Admission of a user's create request (the mutating and validating webhooks): may change
    /// `object` or refuse it. Runs before the store is locked, so it may read the store.
    fn admit_create(&self, _store: &Store, _kind: KindId, _object: &mut Value) -> ApiResult<()> {
        Ok(())
    }

    /// Admission of a user's update of the main resource. Runs under the store's lock, so it
    /// must not call the store.
    fn admit_update(&self, _kind: KindId, _old: &Value, _new: &mut Value) -> ApiResult<()> {
        Ok(())
    }

    /// A `pods/{name}/eviction` request for `pod`. `Ok` lets the eviction delete the pod; an
    /// error (usually 429 TooManyRequests) refuses it with that status. A dry run must not
    /// change anything.
    fn evict(&self, store: &Store, pod: &Value, dry_run: bool) -> ApiResult<()>;

    /// `PUT|GET …/virtualmachines/{name}/{action}`.
    fn vm_call(&self, store: &Store, call: VirtCall<'_>) -> ApiResult<VirtReply>;

    /// `PUT|GET …/virtualmachineinstances/{name}/{action}` (except `portforward`).
    fn vmi_call(&self, store: &Store, call: VirtCall<'_>) -> ApiResult<VirtReply>;

    /// Opens a stream to a port of the guest behind a VMI (or a VM's VMI).
    fn portforward(
        &self,
        store: &Store,
        forward: &PortForward<'_>,
    ) -> ApiResult<Box<dyn GuestStream>>;

    /// What runs the guests (`emulated`, `qemu`), published for the harness; `None` for a
    /// world without guests.
    fn guests(&self) -> Option<&'static str> {
        None
    }

    /// What the guest behind launcher `pod` printed on its serial console, which KubeVirt's
    /// `guest-console-log` container streams; `None` when the pod has no such log.
    fn serial_log(&self, _store: &Store, _pod: &Value) -> Option<String> {
        None
    }

    /// Resolves when `pod`'s serial log may have grown: its real guest printed on its serial
    /// port. Never for a world without real guests (what an emulated guest prints comes with
    /// its boot, which changes its VMI).
    fn serial_log_grown(&self, _store: &Store, _pod: &Value) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }

    /// Opens the serial console of VMI `namespace/name` (`…/virtualmachineinstances/{name}/console`);
    /// a world without guests serves none.
    fn console(
        &self,
        _store: &Store,
        _namespace: &str,
        _name: &str,
    ) -> ApiResult<Box<dyn GuestStream>> {
        Err(no_world("virtualmachineinstances/console"))
    }
}

/// A `…/{virtualmachineinstances|virtualmachines}/{name}/portforward/{port}[/{protocol}]`
/// request, with the path's port and protocol as given (virt-api passes them to the dialer
/// unchecked).
#[derive(Debug, Clone, Copy)]
pub struct PortForward<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// Through the VM (`virtualmachines/{name}/portforward`) rather than the VMI.
    pub via_vm: bool,
    pub port: &'a str,
    pub protocol: &'a str,
}

/// The API server alone, with no simulated world: evictions are allowed (no disruption budget
/// or webhook exists) and KubeVirt subresources answer 404, as on a cluster without KubeVirt.
/// (Not 503: clients retry that for minutes.)
pub struct BareApi;

fn no_world(what: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("vstp-sim runs without a simulated world, so nothing serves {what}"),
    )
}

impl World for BareApi {
    fn start(self: Arc<Self>, _store: Arc<Store>, _faults: Arc<crate::faults::Faults>) {}

    fn evict(&self, _store: &Store, _pod: &Value, _dry_run: bool) -> ApiResult<()> {
        Ok(())
    }

    fn vm_call(&self, _store: &Store, call: VirtCall<'_>) -> ApiResult<VirtReply> {
        Err(no_world(&format!("virtualmachines/{}", call.action)))
    }

    fn vmi_call(&self, _store: &Store, call: VirtCall<'_>) -> ApiResult<VirtReply> {
        Err(no_world(&format!(
            "virtualmachineinstances/{}",
            call.action
        )))
    }

    fn portforward(
        &self,
        _store: &Store,
        _forward: &PortForward<'_>,
    ) -> ApiResult<Box<dyn GuestStream>> {
        Err(no_world("virtualmachineinstances/portforward"))
    }
}

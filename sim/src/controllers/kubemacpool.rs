//! KubeMacPool's VirtualMachine webhook (k8snetworkplumbingwg/kubemacpool v0.51), as the API
//! server passes it on: it refuses a VM whose interfaces repeat a MAC or a name, and gives a MAC
//! from the cluster's range to each masquerade or Multus interface that has none.
//!
//! Since v0.51 (#582, "Remove webhook blocking behavior") the webhook no longer refuses a MAC
//! another VM already holds: that is left to its VMI collision controller (metrics and events at
//! run time), which is not modelled. Only a namespace labelled
//! `mutatevirtualmachines.kubemacpool.io=ignore` is left alone (the release manifests' opt-out
//! mode, which CNAO deploys).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::kinds;
use crate::obj;
use crate::store::{Selectors, Store};
use crate::world::config::KUBEVIRT_NAMESPACE;

pub const WEBHOOK: &str = "mutatevirtualmachines.kubemacpool.io";
/// The range's ConfigMap, in the namespace KubeMacPool runs in (CNAO's operand namespace).
pub const RANGE_CONFIG: &str = "kubemacpool-mac-range-config";
const MAC_SPACE_END: u64 = 0xffff_ffff_ffff;

/// The pool manager's memory (pool-manager/pool.go `PoolManager`): the range, the position
/// `currentMac` (a random MAC of the range when the range is read, `UpdateRanges`) and the MACs
/// VMs hold. It is refreshed from the store at each creation (the ConfigMap controller and
/// `initMacMapFromCluster`); an update runs under the store's lock and uses what it holds.
#[derive(Default)]
pub struct Pool {
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    range: Option<Range>,
    current: u64,
    taken: HashSet<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
}

/// The range ConfigMap CNAO renders when NetworkAddonsConfig names none: a random
/// locally administered 3-byte prefix, the whole 24-bit block behind it
/// (cluster-network-addons-operator pkg/network/kubemacpool.go `generateRandomMacPrefix`).
pub fn range_config() -> Value {
    let prefix: [u8; 2] = rand::random();
    let start = format!("02:{:02x}:{:02x}:00:00:00", prefix[0], prefix[1]);
    let end = format!("02:{:02x}:{:02x}:ff:ff:ff", prefix[0], prefix[1]);
    json!({"metadata": {"name": RANGE_CONFIG, "namespace": KUBEVIRT_NAMESPACE},
        "data": {"RANGE_START": start, "RANGE_END": end}})
}

/// A VM's creation: pool-manager/virtualmachine_pool.go `AllocateVirtualMachineMac`, its error
/// wrapped by webhook/virtualmachine/virtualmachine.go `Handle` and
/// `mutateCreateVirtualMachinesFn`.
pub fn admit_create(store: &Store, pool: &Pool, vm: &mut Value) -> ApiResult<()> {
    pool.refresh(store);
    allocate(pool, vm, &BTreeMap::new()).map_err(|e| {
        refused(format!(
            "Failed to create virtual machine allocation error: Failed to allocate mac to the vm object: {e}"
        ))
    })
}

/// A VM's update that touches its interfaces: `UpdateMacAddressesForVirtualMachine` (an
/// interface that had a MAC and asks for none keeps it; a new one gets one from the pool).
pub fn admit_update(pool: &Pool, old: &Value, new: &mut Value) -> ApiResult<()> {
    if interfaces(old) == interfaces(new) {
        return Ok(());
    }
    let held: BTreeMap<String, String> = interfaces(old)
        .iter()
        .filter_map(|i| {
            Some((
                i["name"].as_str()?.to_string(),
                i["macAddress"].as_str()?.to_string(),
            ))
        })
        .collect();
    allocate(pool, new, &held).map_err(|e| {
        refused(format!(
            "Failed to update virtual machine allocation error: {e}"
        ))
    })
}

/// `admission.Errored(http.StatusInternalServerError, …)`: code 500, no reason, through
/// k8s.io/apiserver webhook/errors `ToStatusErr`.
fn refused(message: String) -> ApiError {
    ApiError::new(
        500,
        "",
        format!("admission webhook \"{WEBHOOK}\" denied the request: {message}"),
    )
}

fn interfaces(vm: &Value) -> Vec<Value> {
    vm.pointer("/spec/template/spec/domain/devices/interfaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Checks the interfaces, then fills the MAC of each supported interface that has none: the one
/// it held before (`held`, by interface name) or a free one of the range.
fn allocate(pool: &Pool, vm: &mut Value, held: &BTreeMap<String, String>) -> Result<(), String> {
    check_interfaces(&interfaces(vm))?;
    let multus: HashSet<String> = vm
        .pointer("/spec/template/spec/networks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|n| n["multus"].is_object())
        .filter_map(|n| n["name"].as_str().map(str::to_string))
        .collect();
    let Some(ifaces) = vm
        .pointer_mut("/spec/template/spec/domain/devices/interfaces")
        .and_then(Value::as_array_mut)
    else {
        return Ok(());
    };
    for iface in ifaces.iter_mut() {
        let name = obj::str_at(iface, "/name").to_string();
        // Only masquerade or Multus interfaces get a MAC from the pool.
        let supported = iface["masquerade"].is_object() || multus.contains(&name);
        if !supported || !iface["macAddress"].is_null() {
            continue;
        }
        let mac = match held.get(&name) {
            Some(mac) => mac.clone(),
            None => format_mac(pool.free_mac()?),
        };
        iface["macAddress"] = json!(mac);
    }
    Ok(())
}

/// `checkIntraVMDuplicateMACs` then `checkVmForInterfaceDuplication`.
fn check_interfaces(ifaces: &[Value]) -> Result<(), String> {
    let mut by_mac: BTreeMap<u64, &str> = BTreeMap::new();
    for iface in ifaces {
        let name = obj::str_at(iface, "/name");
        let Some(text) = iface["macAddress"].as_str().filter(|m| !m.is_empty()) else {
            continue;
        };
        let mac = parse_mac(text).ok_or_else(|| {
            format!("invalid MAC address format for interface {name}: {text}: address {text}: invalid MAC address")
        })?;
        if let Some(first) = by_mac.insert(mac, name) {
            return Err(format!(
                "duplicate MAC address {} found on interfaces: {first} and {name}",
                format_mac(mac)
            ));
        }
    }
    let mut names = HashSet::new();
    if !ifaces.iter().all(|i| names.insert(obj::str_at(i, "/name"))) {
        return Err(
            "Failed to mutate virtual machine: every interface must have a unique name".into(),
        );
    }
    Ok(())
}

impl Pool {
    /// Reads the range (an invalid ConfigMap leaves the range as it was, as the ConfigMap
    /// controller does) and the MACs the cluster's VMs hold.
    fn refresh(&self, store: &Store) {
        let range = read_range(store);
        let taken = macs_in_use(store);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(range) = range.filter(|r| state.range != Some(*r)) {
            state.range = Some(range);
            state.current = range.start + rand::random::<u64>() % (range.end - range.start + 1);
        }
        state.taken = taken;
    }

    /// `getFreeMac`: from the current position to the range's end, then from its start, the
    /// first MAC no VM holds; the position moves past it so a released MAC is not handed out
    /// again at once.
    fn free_mac(&self) -> Result<u64, String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let range = *state.range.get_or_insert(DEFAULT_RANGE);
        let mut position = state.current.clamp(range.start, range.end);
        for _ in 0..=(range.end - range.start) {
            let candidate = position;
            position = if position == range.end {
                range.start
            } else {
                position + 1
            };
            if state.taken.insert(candidate) {
                state.current = position;
                return Ok(candidate);
            }
        }
        Err("the range is full".into())
    }
}

/// The release manifests' range, for a cluster without the ConfigMap.
const DEFAULT_RANGE: Range = Range {
    start: 0x02_00_00_00_00_00,
    end: 0x02_ff_ff_ff_ff_ff,
};

/// The range of the ConfigMap (configmap/configmap_controller.go `parseRangesFromConfigMap`,
/// checked as pool.go `checkRange`); without a ConfigMap, the release manifests' range.
fn read_range(store: &Store) -> Option<Range> {
    let Some(config) = store.get(kinds::CONFIGMAPS, KUBEVIRT_NAMESPACE, RANGE_CONFIG) else {
        return Some(DEFAULT_RANGE);
    };
    let bound = |key: &str| parse_mac(obj::str_at(&config, &format!("/data/{key}")));
    let (start, end) = (bound("RANGE_START")?, bound("RANGE_END")?);
    (start < end).then_some(Range { start, end })
}

/// Every MAC a VM's template holds (`initMacMapFromCluster` and the allocations since).
fn macs_in_use(store: &Store) -> HashSet<u64> {
    let (vms, _) = store.list(kinds::VMS, None, &Selectors::default());
    vms.iter()
        .flat_map(|vm| interfaces(vm))
        .filter_map(|i| parse_mac(i["macAddress"].as_str()?))
        .collect()
}

/// Go's `net.ParseMAC` for 6-byte addresses: colon or dash separated octets.
fn parse_mac(text: &str) -> Option<u64> {
    let octets: Vec<&str> = text.split([':', '-']).collect();
    if octets.len() != 6 || octets.iter().any(|o| o.len() != 2) {
        return None;
    }
    let mut mac = 0u64;
    for octet in octets {
        mac = (mac << 8) | u64::from(u8::from_str_radix(octet, 16).ok()?);
    }
    Some(mac & MAC_SPACE_END)
}

/// `net.HardwareAddr.String()`: lower-case, colon separated.
fn format_mac(mac: u64) -> String {
    let b = mac.to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

//! MACs the harness gives the NICs it names, so a scenario knows them before the VM exists
//! (cloud-init matches the guest's NICs by MAC). A run's MACs are unique within the run and
//! salted with the run id, so two runs sharing a cluster do not pick the same ones; they lie in
//! the cluster's KubeMacPool range when one is configured (so they look like the MACs
//! KubeMacPool itself gives), else in the locally administered 02:xx:xx:xx:xx:xx block.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// An inclusive range of MACs, as 48-bit numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacRange {
    start: u64,
    end: u64,
}

impl MacRange {
    /// 02:00:00:00:00:00–02:ff:ff:ff:ff:ff: locally administered and unicast, the block
    /// KubeMacPool's own manifests default to.
    pub const LOCAL: MacRange = MacRange {
        start: 0x02_00_00_00_00_00,
        end: 0x02_ff_ff_ff_ff_ff,
    };

    /// Fewer MACs than this is no room for a run to pick from without repeating.
    pub const SMALLEST: u64 = 1 << 12;

    /// The range from `start` to `end`, as KubeMacPool's ConfigMap writes them; its bounds are
    /// unicast, as KubeMacPool requires (pool-manager/pool.go `checkCast`).
    pub fn parse(start: &str, end: &str) -> Result<MacRange, String> {
        let (start, end) = (parse_mac(start)?, parse_mac(end)?);
        let range = MacRange { start, end };
        if start >= end {
            return Err(format!("{range} ends before it starts"));
        }
        if is_multicast(start) || is_multicast(end) {
            return Err(format!("{range} starts or ends on a multicast MAC"));
        }
        if range.len() < Self::SMALLEST {
            return Err(format!(
                "{range} holds {} MACs, fewer than {}",
                range.len(),
                Self::SMALLEST
            ));
        }
        Ok(range)
    }

    /// The MAC to try after `mac`: the next one, or past a multicast block (its first octet
    /// odd) at once; from the end back to the start.
    fn after(&self, mac: u64) -> u64 {
        let next = if is_multicast(mac) {
            ((mac >> 40) + 1) << 40
        } else {
            mac + 1
        };
        if next > self.end {
            self.start
        } else {
            next
        }
    }

    /// The first unicast MAC from `from` on (wrapping) that `taken` lacks, now taken. Each
    /// unicast MAC is visited once at most; were all taken, `from`'s is given again.
    fn first_free(&self, from: u64, taken: &mut HashSet<u64>) -> u64 {
        let first = if is_multicast(from) {
            self.after(from)
        } else {
            from
        };
        let mut candidate = first;
        loop {
            if !is_multicast(candidate) && taken.insert(candidate) {
                return candidate;
            }
            candidate = self.after(candidate);
            if candidate == first {
                return first;
            }
        }
    }

    fn len(&self) -> u64 {
        self.end - self.start + 1
    }
}

impl std::fmt::Display for MacRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}–{}", format_mac(self.start), format_mac(self.end))
    }
}

/// The MACs of one run: each (owner, VM, NIC) gets one, always the same, never another's.
#[derive(Debug)]
pub struct MacPool {
    range: MacRange,
    salt: String,
    given: Mutex<Given>,
}

#[derive(Debug, Default)]
struct Given {
    by_nic: BTreeMap<String, u64>,
    taken: HashSet<u64>,
}

impl MacPool {
    pub fn new(range: MacRange, run_id: &str) -> MacPool {
        MacPool {
            range,
            salt: run_id.to_string(),
            given: Mutex::new(Given::default()),
        }
    }

    pub fn range(&self) -> MacRange {
        self.range
    }

    /// The MAC of NIC `nic` of VM `vm` that `owner` (a trial) builds: a hash of the run id and
    /// the three names placed in the range, moved on while it is multicast or already given.
    pub fn mac_for(&self, owner: &str, vm: &str, nic: &str) -> String {
        let key = format!("{owner}/{vm}/{nic}");
        let mut given = self.given.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mac) = given.by_nic.get(&key) {
            return format_mac(*mac);
        }
        let hashed = self.range.start + fnv1a(&self.salt, &key) % self.range.len();
        let candidate = self.range.first_free(hashed, &mut given.taken);
        given.by_nic.insert(key, candidate);
        format_mac(candidate)
    }
}

/// Where a VM builder takes its MACs from: the run's pool and the trial that builds.
#[derive(Debug, Clone)]
pub struct MacSource {
    pool: Arc<MacPool>,
    owner: String,
}

impl MacSource {
    pub fn new(pool: Arc<MacPool>, owner: &str) -> MacSource {
        MacSource {
            pool,
            owner: owner.to_string(),
        }
    }

    pub fn mac(&self, vm: &str, nic: &str) -> String {
        self.pool.mac_for(&self.owner, vm, nic)
    }
}

impl Default for MacSource {
    /// A pool of its own in the locally administered block, unsalted: for builders used
    /// outside a run (unit tests, documentation).
    fn default() -> MacSource {
        MacSource::new(Arc::new(MacPool::new(MacRange::LOCAL, "")), "")
    }
}

fn fnv1a(salt: &str, key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in salt.bytes().chain([b'/']).chain(key.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn is_multicast(mac: u64) -> bool {
    (mac >> 40) & 1 == 1
}

/// A 6-byte MAC in colon or dash form, any case.
fn parse_mac(text: &str) -> Result<u64, String> {
    let octets: Vec<&str> = text.trim().split([':', '-']).collect();
    let bad = || format!("{text:?} is not a MAC address (six hex octets, e.g. 02:00:00:00:00:00)");
    if octets.len() != 6 || octets.iter().any(|o| o.len() != 2) {
        return Err(bad());
    }
    octets.iter().try_fold(0u64, |mac, octet| {
        let byte = u8::from_str_radix(octet, 16).map_err(|_| bad())?;
        Ok((mac << 8) | u64::from(byte))
    })
}

fn format_mac(mac: u64) -> String {
    let b = mac.to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

#[cfg(test)]
#[path = "mac_tests.rs"]
mod tests;

//! OVN-Kubernetes' address allocation on a primary Layer2 network: one pool per network, the
//! gateway and management port addresses reserved, handed out round-robin, kept in the
//! IPAMClaim ipam-extensions made when the network has persistent IPs.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Value};

use super::super::Ctx;
use crate::faults::Fault;
use crate::kinds;
use crate::obj;

/// The annotation ipam-extensions' webhook puts on a launcher pod: the claim OVN-K keeps the
/// primary network's addresses in.
pub const CLAIM_ANNOTATION: &str = "k8s.ovn.org/primary-udn-ipamclaim";
const MULTUS_DEFAULT_NETWORK: &str = "v1.multus-cni.io/default-network";

/// The allocators' memory: per network, where the round-robin scan goes on and which pod
/// holds which address without a claim.
#[derive(Default)]
pub struct Pools {
    next: HashMap<String, u32>,
    leases: HashMap<String, Vec<(String, String, IpAddr)>>,
}

/// The IPv4 subnet of a primary network's config, as (network address, prefix length).
fn subnet(config: &Value) -> Option<(Ipv4Addr, u8)> {
    config["subnets"].as_str()?.split(',').find_map(|s| {
        match crate::guest::cloudinit::cidr(s.trim())? {
            (IpAddr::V4(ip), len) if len <= 30 => {
                let mask = u32::MAX.checked_shl(32 - len as u32).unwrap_or(0);
                Some((Ipv4Addr::from(u32::from(ip) & mask), len))
            }
            _ => None,
        }
    })
}

/// The first address of a claim's status.
fn claimed_ip(claim: &Value) -> Option<IpAddr> {
    claim["status"]["ips"][0]
        .as_str()
        .and_then(crate::guest::cloudinit::cidr)
        .map(|(ip, _)| ip)
}

/// The VM's address on its namespace's primary network for launcher pod `pod`: ovn-kubernetes
/// (master) go-controller/pkg/allocator/pod/pod_annotation.go `allocatePodAnnotationWithRollback`
/// (the claim's addresses when it has some, else the requested or next free one, written to the
/// claim by pkg/persistentips/allocator.go `UpdateIPAMClaimStatus`). Returns (address, prefix).
pub fn claim_address(
    ctx: &Ctx,
    vmi: &Value,
    network: &str,
    config: &Value,
    pod: &str,
) -> Option<(IpAddr, u8)> {
    // Reading the addresses in use and taking one must not interleave with another launcher's
    // allocation, or two VMs booting at once get the same address.
    let mut pools = ctx.ipam.lock().unwrap_or_else(|e| e.into_inner());
    let ns = obj::namespace(vmi);
    let (base, len) = subnet(config)?;
    let launcher = ctx.get(kinds::PODS, ns, pod)?;
    // `hasPersistentIPs`: a claim reference counts only on a network that honours it.
    let claim = obj::annotation(&launcher, CLAIM_ANNOTATION)
        .filter(|_| config["allowPersistentIPs"] == true)
        .and_then(|name| ctx.get(kinds::IPAMCLAIMS, ns, name));
    // The udn-ip-changes regression: a migration's target pod does not honour the claim and
    // avoids its address (a pod that starts the VM anew still does).
    let migration_target = obj::label(&launcher, "kubevirt.io/migrationJobUID").is_some();
    let lost = claim
        .as_ref()
        .filter(|_| ctx.faults.has(Fault::UdnIpChanges) && migration_target)
        .and_then(|c| claimed_ip(c));
    if let Some(ip) = claim
        .as_ref()
        .and_then(|c| claimed_ip(c))
        .filter(|_| lost.is_none())
    {
        let name = obj::name(claim.as_deref()?).to_string();
        ctx.write(kinds::IPAMCLAIMS, ns, &name, |c| {
            c["status"]["ownerPod"] = json!({"name": pod})
        });
        return Some((ip, len));
    }
    let used = in_use(ctx, &mut pools, network, lost);
    let pool = Pool { base, len };
    let chosen = match requested(ctx, &launcher, config) {
        Some(ip) => pool.take(ip, &used).map_err(|(why, reason)| {
            let desc = format!("{}/{ns}/{pod}", obj::str_at(config, "/netAttachDefName"));
            (
                format!(
                    "failed to ensure requested or annotated IPs [{ip}/{len}] for {desc}: {why}"
                ),
                reason,
            )
        }),
        None => {
            let next = pools.next.entry(network.to_string()).or_insert(0);
            pool.next(next, &used).ok_or_else(|| {
                (
                    "subnet address pool exhausted".to_string(),
                    "SubnetExhausted",
                )
            })
        }
    };
    match (chosen, claim) {
        (Ok(ip), Some(claim)) => {
            set_claim_status(ctx, &claim, pod, Ok(format!("{ip}/{len}")));
            Some((ip, len))
        }
        (Ok(ip), None) => {
            let leases = pools.leases.entry(network.to_string()).or_default();
            leases.push((ns.to_string(), pod.to_string(), ip));
            Some((ip, len))
        }
        (Err(why), Some(claim)) => {
            set_claim_status(ctx, &claim, pod, Err(why));
            None
        }
        (Err(_), None) => None,
    }
}

/// Addresses taken on `network`: those of its claims, and those of live pods that hold one
/// without a claim (a finished or deleted pod's address is free again).
fn in_use(ctx: &Ctx, pools: &mut Pools, network: &str, lost: Option<IpAddr>) -> Vec<IpAddr> {
    let leases = pools.leases.entry(network.to_string()).or_default();
    leases.retain(|(ns, pod, _)| {
        ctx.get(kinds::PODS, ns, pod).is_some_and(|p| {
            !obj::deleting(&p)
                && !matches!(obj::str_at(&p, "/status/phase"), "Succeeded" | "Failed")
        })
    });
    ctx.list(kinds::IPAMCLAIMS, None)
        .iter()
        .filter(|c| c["spec"]["network"] == network)
        .filter_map(|c| claimed_ip(c))
        .chain(leases.iter().map(|(_, _, ip)| *ip))
        .chain(lost)
        .collect()
}

/// One IPv4 subnet's allocator: go-controller/pkg/allocator/ip/allocator.go
/// `NewAllocatorCIDRRange` (no network or broadcast address), with the gateway (.1) and the
/// management port (.2) excluded (pkg/clustermanager/network_cluster_controller.go
/// `infrastructureExcludeCIDRs`), scanned round-robin (pkg/allocator/bitmap/bitmap.go
/// `roundRobinScanStrategy`: the scan goes on after the last address handed out).
struct Pool {
    base: Ipv4Addr,
    len: u8,
}

impl Pool {
    /// Usable addresses: offsets 0.. from network + 1, broadcast left out.
    fn size(&self) -> u32 {
        (1u32 << (32 - self.len as u32)).saturating_sub(2)
    }

    fn at(&self, offset: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(u32::from(self.base) + 1 + offset))
    }

    fn reserved(&self, ip: IpAddr) -> bool {
        ip == self.at(0) || ip == self.at(1)
    }

    fn next(&self, cursor: &mut u32, used: &[IpAddr]) -> Option<IpAddr> {
        let size = self.size();
        (0..size).find_map(|i| {
            let offset = (*cursor + i) % size;
            let ip = self.at(offset);
            (!self.reserved(ip) && !used.contains(&ip)).then(|| {
                *cursor = (offset + 1) % size;
                ip
            })
        })
    }

    /// A requested address: `Range.Allocate`'s errors (the scan position stays), with the
    /// claim condition's reason `updateIPAMClaimAllocationErrorStatus` gives them.
    fn take(&self, ip: IpAddr, used: &[IpAddr]) -> Result<IpAddr, (String, &'static str)> {
        let inside = (0..self.size()).map(|o| self.at(o)).any(|a| a == ip);
        if !inside {
            let why = format!(
                "provided IP is not in the valid range. The range of valid IPs is {}/{}",
                self.base, self.len
            );
            return Err((why, "InternalError"));
        }
        if self.reserved(ip) || used.contains(&ip) {
            return Err((
                "provided IP is already allocated".into(),
                "IPAddressConflict",
            ));
        }
        Ok(ip)
    }
}

/// pkg/persistentips/allocator.go `UpdateIPAMClaimStatus`: the owner pod, and the addresses
/// with condition IPsAllocated, or none with the failure's reason.
fn set_claim_status(ctx: &Ctx, claim: &Value, pod: &str, outcome: Result<String, (String, &str)>) {
    let now = ctx.now();
    let generation = claim["metadata"]["generation"].as_i64().unwrap_or(1);
    let (ips, status, reason, message) = match outcome {
        Ok(ip) => (
            json!([ip]),
            "True",
            "SuccessfulAllocation",
            "IP addresses successfully allocated".to_string(),
        ),
        Err((why, reason)) => (json!([]), "False", reason, why),
    };
    ctx.write_same(kinds::IPAMCLAIMS, claim, |c| {
        c["status"]["ips"] = ips;
        c["status"]["ownerPod"] = json!({"name": pod});
        c["status"]["conditions"] = json!([{"type": "IPsAllocated", "status": status, "reason": reason,
            "message": message, "observedGeneration": generation, "lastTransitionTime": now}]);
    });
}

/// The IPv4 address the launcher pod asks for on the primary network: ovn-kubernetes
/// (master) go-controller/pkg/util/multi_network.go `GetPodNADToNetworkMappingWithActiveNetwork`
/// (`overrideActiveNSEWithDefaultNSE`) moves the `ips` of the pod's default-network selection
/// to the primary network only when `IsPreconfiguredUDNAddressesEnabled` and only on Layer2;
/// otherwise the address is allocated as if none was asked for.
fn requested(ctx: &Ctx, pod: &Value, config: &Value) -> Option<IpAddr> {
    if config["topology"] != "layer2"
        || !crate::world::ovnk::preconfigured_udn_addresses(&ctx.store)
    {
        return None;
    }
    // The requested-udn-ip-ignored regression: the request arrives and is dropped.
    if ctx.faults.has(Fault::RequestedUdnIpIgnored) {
        return None;
    }
    let selections: Vec<Value> =
        serde_json::from_str(obj::annotation(pod, MULTUS_DEFAULT_NETWORK)?).ok()?;
    selections
        .first()?
        .get("ips")?
        .as_array()?
        .iter()
        .filter_map(|ip| crate::guest::cloudinit::cidr(ip.as_str()?))
        .map(|(ip, _)| ip)
        .find(IpAddr::is_ipv4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        Pool {
            base: "10.100.0.0".parse().unwrap(),
            len: 24,
        }
    }

    #[test]
    fn the_first_address_follows_the_gateway_and_the_management_port() {
        let mut cursor = 0;
        assert_eq!(
            pool().next(&mut cursor, &[]),
            Some("10.100.0.3".parse().unwrap())
        );
    }

    #[test]
    fn addresses_are_handed_out_round_robin_not_reused_first() {
        let mut cursor = 0;
        let a = pool().next(&mut cursor, &[]).unwrap();
        let b = pool().next(&mut cursor, &[a]).unwrap();
        // a is free again, but the scan goes on after b.
        assert_eq!(
            pool().next(&mut cursor, &[b]),
            Some("10.100.0.5".parse().unwrap())
        );
    }

    #[test]
    fn a_requested_gateway_or_outside_address_is_refused() {
        let p = pool();
        assert_eq!(
            p.take("10.100.0.1".parse().unwrap(), &[]),
            Err((
                "provided IP is already allocated".into(),
                "IPAddressConflict"
            ))
        );
        let (why, reason) = p.take("10.100.0.255".parse().unwrap(), &[]).unwrap_err();
        assert!(
            why.starts_with("provided IP is not in the valid range") && reason == "InternalError"
        );
        assert!(p.take("10.100.0.9".parse().unwrap(), &[]).is_ok());
    }
}

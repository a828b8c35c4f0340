//! The connectivity gap of a live migration on a secondary L2 network (a Linux bridge or an
//! OVN-K localnet with an uplink, segment `phys:…`): when frames stop reaching the guest,
//! and when they reach it again, as seen from a peer plugged in on some node.
//!
//! The model, at the switchover of a migration that converged:
//!
//! 1. **Stop-and-copy.** The source pauses the guest, copies the last dirty pages and the
//!    device state, and the target resumes it. In between the vNIC neither sends nor takes
//!    frames: [`DOWNTIME`] (a model choice; libvirt reports the real one, and qemu aims at
//!    its `downtime-limit`, which KubeVirt sets from `maxDowntimeMs`).
//! 2. **Self-announce.** Right before the target resumes the vCPUs, qemu announces every
//!    NIC: a broadcast RARP with the guest's MAC as source, [`ANNOUNCE_ROUNDS`] times (qemu
//!    migration/migration.c `process_incoming_migration_bh` calls net/announce.c
//!    `qemu_announce_self`, which sends the first round at once (`qemu_announce_self_once`)
//!    and re-arms the timer with `qemu_announce_timer_step`: initial + n × step, capped at
//!    max; defaults in migration/options.c `DEFAULT_MIGRATE_ANNOUNCE_INITIAL` 50 ms, `_MAX`
//!    550, `_ROUNDS` 5, `_STEP` 100, which libvirt and KubeVirt leave alone). Rounds
//!    therefore leave at 0, 50, 200, 450 and 800 ms after resume.
//! 3. **Learning.** Frames to the guest's MAC follow the forwarding tables. A Linux bridge
//!    learns a source MAC on the port a frame came in on and moves an existing entry
//!    (linux net/bridge/br_input.c `br_handle_frame_finish` → br_fdb.c `br_fdb_update`); an
//!    entry lives [`FDB_AGEING`] unused (br_private.h `BR_DEFAULT_AGEING_TIME`, 300 s), far
//!    longer than any gap, so ageing never repairs a stale entry: only a frame from the guest
//!    does. The physical switch between the nodes learns the same way. A broadcast RARP
//!    reaches every node's bridge and the switch, so the first round that gets out fixes
//!    every path; so does any frame the guest sends itself (an echo request when it is the
//!    client), on the path it takes.
//! 4. **OVN localnet port activation.** OVN-K keeps the target pod's logical switch port
//!    disabled (`Enabled=false`, no `Addresses`) until the migration target is domain-ready,
//!    then enables it and disables the source's (ovn-kubernetes PR 4774 "VM migration:
//!    Reduce downtime using LSP Enabled" and PR 4917 "kubevirt, localnet: Reduce live
//!    migration downtime": go-controller/pkg/ovn/base_network_controller_secondary.go
//!    `addLogicalPortToNetworkForNAD` / `setPodLogicalSwitchPortAddressesAndEnabledField`,
//!    the state from go-controller/pkg/kubevirt `DiscoverLiveMigrationStatus`, ready once the
//!    target pod carries KubeVirt's migration-target-ready-timestamp annotation). A disabled
//!    port drops what the guest sends, announcements included; [`PORT_ACTIVATION`] after
//!    resume is a model choice (virt-handler sees the domain, the annotation lands,
//!    ovnkube-controller and ovn-controller program the flows; PR 4774 reports the whole
//!    downtime "<0.5s"). OVN does not learn: a peer on the target node reaches the enabled
//!    port by its logical address at once; a peer elsewhere leaves through the localnet port
//!    and needs the physical switch to have learned the guest at the target node, from an
//!    announcement round (or a frame of the guest) sent after activation.
//!    Note: OVN-K uses neither `requested-chassis` with two chassis nor
//!    `activation-strategy=rarp` for KubeVirt (those are OVN options another CNI, kube-ovn,
//!    sets); the ports' `Enabled` flag is its mechanism.
//! 5. **Nobody announces.** If no frame of the guest fixes a stale path, a peer that only
//!    answers waits until its own neighbour entry expires and it resolves the address again by
//!    broadcast, which the guest answers from its new place: reachable time, then the delay
//!    before probing, then the unicast probes (linux net/ipv4/arp.c `arp_tbl` and
//!    net/ipv6/ndisc.c `nd_tbl` defaults: `BASE_REACHABLE_TIME` 30 s, `DELAY_PROBE_TIME`
//!    5 s, 3 unicast probes `RETRANS_TIME` 1 s apart; the randomised reachable time is taken
//!    at its mean): [`NEIGHBOUR_REPROBE`] after the gap began.
//!
//! So the gap depends on the medium, on who sends first (the guest as client teaches the
//! path with its own requests; as server it relies on the announcements), and on the peer's
//! node (on localnet a peer on the target node is served locally by OVN).
//!
//! Simplification: the sim does not stop the guest's clocks for the stop-and-copy (a real
//! guest's kvmclock stands still for those few hundred milliseconds; see guest/clock.rs for the
//! pauses it does model); the vNIC is silent instead.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Which L2 medium carries the NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    LinuxBridge,
    Localnet,
}

/// Model choice: the guest's stop-and-copy pause at the switchover (modelled seconds).
pub const DOWNTIME: f64 = 0.2;
/// The same under the `switchover-stretched` regression (stays below a 5 s threshold).
pub const STRETCHED_DOWNTIME: f64 = 2.0;
/// Model choice: from resume on the target to the target's OVN port enabled (modelled s).
pub const PORT_ACTIVATION: f64 = 0.3;
/// qemu's self-announce rounds after resume (see the module doc), modelled seconds.
pub const ANNOUNCE_ROUNDS: [f64; 5] = [0.0, 0.05, 0.2, 0.45, 0.8];
/// Linux bridge FDB ageing (modelled seconds): longer than any gap, so it never heals one.
pub const FDB_AGEING: f64 = 300.0;
/// From the last answer to a broadcast re-resolution by the peer (30 + 5 + 3 × 1 s).
pub const NEIGHBOUR_REPROBE: f64 = 38.0;

/// One switchover of one NIC, on the real clock (modelled durations ÷ the time scale).
#[derive(Debug)]
pub struct Handover {
    pub medium: Medium,
    pub source: String,
    pub target: String,
    pub paused: Instant,
    pub resumed: Instant,
    /// From when the target's port passes the guest's frames.
    pub port_active: Instant,
    /// The announcement rounds that leave the target (none when they are lost).
    pub announces: Vec<Instant>,
    /// When a peer's neighbour entry re-resolves the guest by broadcast.
    pub reresolved: Instant,
    /// When the guest's own frames first taught the network its new place.
    taught: Mutex<Option<Instant>>,
}

/// What shapes a handover besides its medium and nodes: durations in modelled seconds.
#[derive(Debug, Clone)]
pub struct Timing {
    pub downtime: f64,
    pub announced: bool,
    /// Real seconds per modelled second.
    pub real_per_modelled: f64,
}

impl Handover {
    /// A switchover that starts now.
    pub fn plan(medium: Medium, source: &str, target: &str, t: &Timing) -> Handover {
        let paused = Instant::now();
        let at = |modelled: f64| paused + Duration::from_secs_f64(modelled * t.real_per_modelled);
        let resumed_after = t.downtime;
        let active_after = match medium {
            Medium::LinuxBridge => resumed_after,
            Medium::Localnet => resumed_after + PORT_ACTIVATION,
        };
        // A round sent while the port is still disabled is dropped there.
        let announces = ANNOUNCE_ROUNDS
            .iter()
            .map(|r| resumed_after + r)
            .filter(|r| t.announced && *r >= active_after)
            .map(at)
            .collect();
        Handover {
            medium,
            source: source.to_string(),
            target: target.to_string(),
            paused,
            resumed: at(resumed_after),
            port_active: at(active_after),
            announces,
            reresolved: at(NEIGHBOUR_REPROBE),
            taught: Mutex::new(None),
        }
    }

    /// Whether the guest's frame leaving now gets through (it runs and its port passes it);
    /// such a frame teaches the network where the guest is.
    pub fn sends(&self, now: Instant) -> bool {
        if now < self.paused {
            return true;
        }
        let through = now >= self.resumed && now >= self.port_active;
        if through {
            let mut taught = self.taught.lock().unwrap_or_else(|p| p.into_inner());
            taught.get_or_insert(now);
        }
        through
    }

    /// Whether a frame from a peer plugged in on `peer_node` reaches the guest now.
    pub fn reaches_guest(&self, peer_node: &str, now: Instant) -> bool {
        if now < self.paused {
            return true;
        }
        if now < self.resumed || now < self.port_active {
            return false;
        }
        let local_lookup = self.medium == Medium::Localnet && peer_node == self.target;
        local_lookup || self.learned_by(now)
    }

    /// Whether some frame of the guest (or a re-resolution) has fixed the stale paths by now.
    fn learned_by(&self, now: Instant) -> bool {
        let taught = *self.taught.lock().unwrap_or_else(|p| p.into_inner());
        self.announces.iter().any(|a| *a <= now)
            || taught.is_some_and(|t| t <= now)
            || now >= self.reresolved
    }

    /// The node the guest runs on now.
    pub fn node_at(&self, now: Instant) -> &str {
        if now < self.resumed {
            &self.source
        } else {
            &self.target
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(announced: bool) -> Timing {
        Timing {
            downtime: DOWNTIME,
            announced,
            real_per_modelled: 1.0,
        }
    }

    fn after(h: &Handover, modelled: f64) -> Instant {
        h.paused + Duration::from_secs_f64(modelled)
    }

    #[test]
    fn a_bridge_is_fixed_by_the_first_announcement_at_resume() {
        let h = Handover::plan(Medium::LinuxBridge, "a", "b", &timing(true));
        assert!(!h.reaches_guest("a", after(&h, 0.1)));
        assert!(h.reaches_guest("a", after(&h, 0.21)));
        assert!(h.reaches_guest("b", after(&h, 0.21)));
        assert!(h.reaches_guest("c", after(&h, 0.21)));
    }

    #[test]
    fn localnet_serves_a_peer_on_the_target_at_activation_others_at_the_next_round() {
        let h = Handover::plan(Medium::Localnet, "a", "b", &timing(true));
        // Port active at 0.5; rounds at 0.2, 0.25, 0.4 are dropped; 0.65 and 1.0 get out.
        assert!(!h.reaches_guest("b", after(&h, 0.45)));
        assert!(h.reaches_guest("b", after(&h, 0.55)));
        assert!(!h.reaches_guest("c", after(&h, 0.6)));
        assert!(h.reaches_guest("c", after(&h, 0.66)));
    }

    #[test]
    fn without_announcements_a_server_waits_for_its_peer_to_resolve_again() {
        let h = Handover::plan(Medium::LinuxBridge, "a", "b", &timing(false));
        assert!(!h.reaches_guest("c", after(&h, 10.0)));
        assert!(h.reaches_guest("c", after(&h, NEIGHBOUR_REPROBE + 0.01)));
    }

    #[test]
    fn the_guests_own_frames_teach_the_path() {
        let h = Handover::plan(Medium::LinuxBridge, "a", "b", &timing(false));
        assert!(!h.sends(after(&h, 0.1)), "paused");
        assert!(h.sends(after(&h, 0.3)));
        assert!(h.reaches_guest("c", after(&h, 0.31)));
    }
}

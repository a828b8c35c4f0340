//! What each product regression of vstp-sim's fault catalogue breaks, as the assertion that
//! must catch it words it. A cell counts as caught only when its scenario failed with one of
//! these in the message; any other non-pass under a product regression is a finding.

/// Fault → the phrases of the assertions that catch it.
const SIGNATURES: &[(&str, &[&str])] = &[
    ("reboot-on-nad-swap", &["boot (the guest rebooted)"]),
    (
        "mac-regenerated",
        &["MACs in the guest", "MACs in the VMI status"],
    ),
    ("old-vlan-still-reachable", &["isolation broken"]),
    // Late: only a negative probe that samples over a window sees the old VLAN come back.
    ("old-vlan-returns", &["isolation broken"]),
    (
        "target-keeps-old-nad",
        &["connectivity broken: the peer on"],
    ),
    ("migration-restarts-processes", &["sentinel process"]),
    ("mode-misreported", &["ran in mode"]),
    ("awd-ignored", &["has been aborted"]),
    // The VMI is lost (failed, then replaced) where an evacuation migration was awaited.
    (
        "eviction-without-migration",
        &["the guest was let go without being migrated"],
    ),
    ("cpu-hotplug-not-in-guest", &["the guest counts"]),
    (
        "memory-hotplug-not-in-guest",
        &["the added memory does not show"],
    ),
    ("hotplugged-nic-missing", &["has no interface with MAC"]),
    ("unplugged-nic-stays", &["the guest still has"]),
    ("udn-ip-changes", &["before the migration and"]),
    ("migration-resets-tcp", &["has no established connection"]),
    // The change reached the running VM at once, seen as it came.
    (
        "non-migratable-changed-live",
        &["the NAD swap was applied live"],
    ),
    // Late: only "nothing happens" held over the quiet window sees the updater act.
    (
        "non-migratable-migrated-late",
        &[
            "condition MigrationRequired is True stopped holding",
            "no new migration of",
            "the non-migratable VM was migrated",
        ],
    ),
    (
        "nic-hotplug-skips-migration",
        &["the hot-plug of hot1 was applied live"],
    ),
    ("memory-never-onlined", &["status.memory.guestCurrent"]),
    (
        "migration-stays-on-node",
        &["succeeded but the VMI is still on"],
    ),
    (
        "launcher-pod-killed",
        &[
            "was replaced: UID",
            "is failed",
            "failed (phase Failed)",
            "is gone from",
        ],
    ),
    (
        "vnic-metric-stale",
        &["vnic_info of net1 to report network"],
    ),
    // ip-request.md names the unhonoured request; VSTP-202 compares the address it got.
    (
        "requested-udn-ip-ignored",
        &["the requested address was not honoured", "it asked for"],
    ),
    ("udn-claim-released-on-stop", &["must stay reserved"]),
    ("self-announce-lost", &["stun time above"]),
];

/// The catching phrases of product regression `fault`; None for an infrastructure fault or
/// the clean run, under which nothing may fail.
pub fn of(fault: &str) -> Option<&'static [&'static str]> {
    SIGNATURES
        .iter()
        .find(|(f, _)| *f == fault)
        .map(|(_, s)| *s)
}

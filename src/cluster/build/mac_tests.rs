//! Tests of the run's MAC pool.

use super::*;

fn number(mac: &str) -> u64 {
    parse_mac(mac).expect("a MAC")
}

#[test]
fn a_nic_keeps_its_mac_and_no_two_nics_share_one() {
    let pool = MacPool::new(MacRange::LOCAL, "20261201-abcd");
    let first = pool.mac_for("trial", "vm-a", "net1");
    assert_eq!(pool.mac_for("trial", "vm-a", "net1"), first);
    let mut seen = HashSet::new();
    for vm in 0..200 {
        for nic in ["net1", "net2"] {
            let mac = pool.mac_for("trial", &format!("vm-{vm}"), nic);
            assert!(seen.insert(mac.clone()), "{mac} given twice");
        }
    }
}

#[test]
fn two_runs_pick_different_macs_for_the_same_names() {
    let one = MacPool::new(MacRange::LOCAL, "run-one");
    let other = MacPool::new(MacRange::LOCAL, "run-two");
    assert_ne!(
        one.mac_for("t", "vm-a", "net1"),
        other.mac_for("t", "vm-a", "net1")
    );
    assert_ne!(
        one.mac_for("t1", "vm-a", "net1"),
        one.mac_for("t2", "vm-a", "net1")
    );
}

#[test]
fn macs_stay_in_a_small_range_unicast_and_distinct_until_it_is_full() {
    let range = MacRange::parse("02:00:00:00:00:00", "02:00:00:00:0f:ff").unwrap();
    let pool = MacPool::new(range, "run");
    let mut seen = HashSet::new();
    for n in 0..MacRange::SMALLEST {
        let mac = pool.mac_for("t", "vm", &format!("nic{n}"));
        let value = number(&mac);
        assert!(
            (range.start..=range.end).contains(&value),
            "{mac} outside {range}"
        );
        assert!(!is_multicast(value), "{mac} is multicast");
        assert!(seen.insert(value), "{mac} given twice");
    }
}

#[test]
fn multicast_macs_inside_a_range_are_skipped() {
    let range = MacRange::parse("02:ff:ff:ff:ff:00", "04:00:00:00:00:ff").unwrap();
    let pool = MacPool::new(range, "run");
    // 512 unicast MACs around a whole multicast block.
    let mut seen = HashSet::new();
    for n in 0..512 {
        let mac = pool.mac_for("t", "vm", &format!("nic{n}"));
        assert!(!is_multicast(number(&mac)), "{mac} is multicast");
        assert!(seen.insert(mac.clone()), "{mac} given twice");
    }
}

#[test]
fn a_bad_range_is_refused_with_its_reason() {
    let cases = [
        (
            "02:00:00:00:00:00",
            "zz:00:00:00:00:00",
            "not a MAC address",
        ),
        (
            "02:00:00:00:ff:ff",
            "02:00:00:00:00:00",
            "ends before it starts",
        ),
        ("03:00:00:00:00:00", "04:00:00:00:00:00", "multicast"),
        ("02:00:00:00:00:00", "02:00:00:00:00:ff", "fewer than 4096"),
    ];
    for (start, end, why) in cases {
        let refused = MacRange::parse(start, end).unwrap_err();
        assert!(refused.contains(why), "{start}–{end}: {refused}");
    }
}

//! What must hold across a live operation, captured once before it and checked after: the
//! guest did not reboot (boot id, uptime growing), it is the same VMI (UID), the sentinel
//! process lives with the same PID, and every interface keeps its MAC, both in the guest and
//! in the VMI status. A failure names every invariant that broke, with before and after.

use std::collections::BTreeMap;
use std::fmt;

use super::status::Vmi;
use crate::guest::access::Guest;
use crate::guest::boot::Boot;

#[derive(Debug, Clone, PartialEq)]
pub struct Invariants {
    pub boot: Boot,
    pub uptime: f64,
    pub vmi_uid: String,
    pub sentinel: u32,
    /// Guest interface name → MAC.
    pub guest_macs: BTreeMap<String, String>,
    /// VMI status interface name → MAC and pod-side interface name.
    pub status_macs: BTreeMap<String, String>,
}

/// One invariant that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub invariant: &'static str,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct NotPreserved {
    pub vm: String,
    pub broken: Vec<Broken>,
}

impl fmt::Display for NotPreserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} did not keep what a live operation must keep:",
            self.vm
        )?;
        for b in &self.broken {
            write!(
                f,
                "\n  - {}: before {}, after {}",
                b.invariant, b.before, b.after
            )?;
        }
        Ok(())
    }
}

impl Invariants {
    /// Records the invariants of `guest`, whose VMI object is `vmi`; starts the sentinel.
    pub async fn capture(guest: &Guest, vmi: &Vmi) -> anyhow::Result<Invariants> {
        anyhow::ensure!(
            !vmi.metadata.uid.is_empty(),
            "cannot capture the invariants of {}: its VMI has no UID",
            guest.name()
        );
        let sentinel = guest.start_sentinel().await?;
        let captured = Invariants {
            boot: guest.boot().await?,
            uptime: guest.uptime().await?,
            vmi_uid: vmi.metadata.uid.clone(),
            sentinel,
            guest_macs: guest_macs(guest).await?,
            status_macs: status_macs(vmi),
        };
        let vacant = captured.vacant();
        anyhow::ensure!(
            vacant.is_empty(),
            "cannot capture the invariants of {}: nothing read for {} (a comparison with nothing would hold vacuously)",
            guest.name(),
            vacant.join(", ")
        );
        Ok(captured)
    }

    /// The invariants read as nothing: each would hold whatever happened.
    fn vacant(&self) -> Vec<&'static str> {
        let boot_unread = matches!(&self.boot, Boot::Id(id) if id.trim().is_empty());
        [
            ("the boot id", boot_unread),
            ("the VMI UID", self.vmi_uid.is_empty()),
            ("the sentinel PID", self.sentinel == 0),
            ("the guest's MACs", self.guest_macs.is_empty()),
            ("the VMI status MACs", self.status_macs.is_empty()),
        ]
        .into_iter()
        .filter_map(|(what, missing)| missing.then_some(what))
        .collect()
    }

    /// Checks every invariant again; `vmi` is the VMI object after the operation.
    pub async fn assert_preserved(&self, guest: &Guest, vmi: &Vmi) -> anyhow::Result<()> {
        self.assert_preserved_besides(guest, vmi, &[]).await
    }

    /// The same, for an operation that adds or removes the NICs `changed` (VMI interface name,
    /// MAC): those are left out on both sides, every other NIC must be as it was.
    pub async fn assert_preserved_besides(
        &self,
        guest: &Guest,
        vmi: &Vmi,
        changed: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let after = Observed {
            boot: guest.boot().await?,
            uptime: guest.uptime().await?,
            vmi_uid: vmi.metadata.uid.clone(),
            sentinel_alive: guest.alive(self.sentinel).await?,
            guest_macs: guest_macs(guest).await?,
            status_macs: status_macs(vmi),
        };
        let broken = self.without(changed).compare(&after.without(changed));
        if broken.is_empty() {
            Ok(())
        } else {
            Err(NotPreserved {
                vm: guest.name().into(),
                broken,
            }
            .into())
        }
    }

    fn without(&self, changed: &[(&str, &str)]) -> Invariants {
        let mut kept = self.clone();
        drop_nics(&mut kept.guest_macs, &mut kept.status_macs, changed);
        kept
    }

    /// The invariants `after` breaks.
    pub fn compare(&self, after: &Observed) -> Vec<Broken> {
        let mut broken = Vec::new();
        let mut check = |invariant, held: bool, before: String, after: String| {
            if !held {
                broken.push(Broken {
                    invariant,
                    before,
                    after,
                });
            }
        };
        check(
            "boot (the guest rebooted)",
            self.boot.same_as(&after.boot),
            self.boot.to_string(),
            after.boot.to_string(),
        );
        check(
            "uptime (it went backwards: the guest restarted)",
            after.uptime >= self.uptime,
            format!("{:.1}s", self.uptime),
            format!("{:.1}s", after.uptime),
        );
        check(
            "VMI UID (the VMI was recreated)",
            self.vmi_uid == after.vmi_uid,
            self.vmi_uid.clone(),
            after.vmi_uid.clone(),
        );
        check(
            "sentinel process",
            after.sentinel_alive,
            format!("PID {} running", self.sentinel),
            format!("PID {} gone", self.sentinel),
        );
        check(
            "MACs in the guest",
            self.guest_macs == after.guest_macs,
            format!("{:?}", self.guest_macs),
            format!("{:?}", after.guest_macs),
        );
        check(
            "MACs in the VMI status",
            self.status_macs == after.status_macs,
            format!("{:?}", self.status_macs),
            format!("{:?}", after.status_macs),
        );
        broken
    }
}

/// The same facts, read after the operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub boot: Boot,
    pub uptime: f64,
    pub vmi_uid: String,
    pub sentinel_alive: bool,
    pub guest_macs: BTreeMap<String, String>,
    pub status_macs: BTreeMap<String, String>,
}

impl Observed {
    fn without(&self, changed: &[(&str, &str)]) -> Observed {
        let mut kept = self.clone();
        drop_nics(&mut kept.guest_macs, &mut kept.status_macs, changed);
        kept
    }
}

fn drop_nics(
    guest: &mut BTreeMap<String, String>,
    status: &mut BTreeMap<String, String>,
    changed: &[(&str, &str)],
) {
    for (name, mac) in changed {
        status.remove(*name);
        guest.retain(|_, m| !m.eq_ignore_ascii_case(mac));
    }
}

/// Interfaces with a hardware address (loopback has none worth keeping).
async fn guest_macs(guest: &Guest) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(guest
        .interfaces()
        .await?
        .into_iter()
        .filter(|i| !i.mac.is_empty() && i.mac != "00:00:00:00:00:00")
        .map(|i| (i.name, i.mac))
        .collect())
}

/// `status.interfaces[].name → "mac (pod interface)"` of a VMI: the interface's identity as
/// KubeVirt reports it.
pub fn status_macs(vmi: &Vmi) -> BTreeMap<String, String> {
    vmi.status
        .interfaces
        .iter()
        .filter_map(|i| {
            let mac = i.mac.as_ref()?.to_lowercase();
            let identity = match &i.pod_interface_name {
                Some(pod) => format!("{mac} ({pod})"),
                None => mac,
            };
            Some((i.name.clone(), identity))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn before() -> Invariants {
        Invariants {
            boot: Boot::Id("b1".into()),
            uptime: 100.0,
            vmi_uid: "u1".into(),
            sentinel: 42,
            guest_macs: BTreeMap::from([("eth1".into(), "02:00:00:00:00:01".into())]),
            status_macs: BTreeMap::from([("net1".into(), "02:00:00:00:00:01".into())]),
        }
    }

    fn same() -> Observed {
        let b = before();
        Observed {
            boot: b.boot,
            uptime: 130.0,
            vmi_uid: b.vmi_uid,
            sentinel_alive: true,
            guest_macs: b.guest_macs,
            status_macs: b.status_macs,
        }
    }

    #[test]
    fn a_nic_that_was_meant_to_change_is_left_out_and_only_it() {
        let mut after = same();
        after
            .guest_macs
            .insert("eth2".into(), "02:00:00:00:00:02".into());
        after
            .status_macs
            .insert("net2".into(), "02:00:00:00:00:02".into());
        let changed = [("net2", "02:00:00:00:00:02")];
        assert_eq!(
            before().without(&changed).compare(&after.without(&changed)),
            vec![]
        );
        after
            .status_macs
            .insert("net1".into(), "02:00:00:00:00:99".into());
        let broken = before().without(&changed).compare(&after.without(&changed));
        assert_eq!(broken.len(), 1, "{broken:?}");
    }

    #[test]
    fn a_capture_of_nothing_names_what_is_missing() {
        assert!(before().vacant().is_empty());
        let nothing = Invariants {
            boot: Boot::Id(" ".into()),
            vmi_uid: String::new(),
            sentinel: 0,
            guest_macs: BTreeMap::new(),
            status_macs: BTreeMap::new(),
            ..before()
        };
        assert_eq!(
            nothing.vacant(),
            [
                "the boot id",
                "the VMI UID",
                "the sentinel PID",
                "the guest's MACs",
                "the VMI status MACs"
            ]
        );
    }

    #[test]
    fn each_invariant_broken_alone_is_named_alone() {
        type Break = fn(&mut Observed);
        let breaks: [(&str, Break); 6] = [
            ("boot (the guest rebooted)", |a| {
                a.boot = Boot::Id("b2".into())
            }),
            ("uptime (it went backwards: the guest restarted)", |a| {
                a.uptime = 99.0
            }),
            ("VMI UID (the VMI was recreated)", |a| {
                a.vmi_uid = "u2".into()
            }),
            ("sentinel process", |a| a.sentinel_alive = false),
            ("MACs in the guest", |a| {
                a.guest_macs
                    .insert("eth1".into(), "02:00:00:00:00:99".into());
            }),
            ("MACs in the VMI status", |a| {
                a.status_macs
                    .insert("net1".into(), "02:00:00:00:00:99".into());
            }),
        ];
        for (invariant, break_it) in breaks {
            let mut after = same();
            break_it(&mut after);
            let named: Vec<&str> = before()
                .compare(&after)
                .iter()
                .map(|b| b.invariant)
                .collect();
            assert_eq!(named, [invariant]);
        }
    }

    #[test]
    fn nothing_breaks_when_everything_holds() {
        assert_eq!(before().compare(&same()), vec![]);
    }

    #[test]
    fn a_reboot_with_a_new_mac_names_each_broken_invariant_with_both_values() {
        let mut after = same();
        after.boot = Boot::Id("b2".into());
        after.uptime = 3.0;
        after.sentinel_alive = false;
        after
            .status_macs
            .insert("net1".into(), "02:00:00:00:00:99".into());
        let broken = before().compare(&after);
        let names: Vec<&str> = broken.iter().map(|b| b.invariant).collect();
        assert_eq!(
            names,
            [
                "boot (the guest rebooted)",
                "uptime (it went backwards: the guest restarted)",
                "sentinel process",
                "MACs in the VMI status"
            ]
        );
        let text = NotPreserved {
            vm: "vm-a".into(),
            broken,
        }
        .to_string();
        assert!(
            text.contains("before boot id b1, after boot id b2"),
            "{text}"
        );
        assert!(text.contains("02:00:00:00:00:99"), "{text}");
    }
}

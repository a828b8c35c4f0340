//! Which guests the in-process simulator runs: its emulated ones (the default), or real Linux
//! kernels in qemu (`--guests qemu`, `VSTP_GUESTS`, `[sim] guests`), at most
//! `qemu_processes` at once (`VSTP_QEMU_PROCESSES`, `[sim] qemu_processes`, default 4).

use crate::guest::os::GuestOs;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Guests {
    /// The simulator's emulated guests: fast, nothing to install.
    #[default]
    Emulated,
    /// Real Linux kernels in qemu (TCG); Windows guests stay emulated.
    Qemu,
}

/// `[sim]` in vstp.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Table {
    guests: Option<String>,
    qemu_processes: Option<i64>,
}

impl Table {
    pub(super) fn override_with(&mut self, key: &str, value: &str) -> bool {
        match key {
            "VSTP_GUESTS" => self.guests = Some(value.to_string()),
            "VSTP_QEMU_PROCESSES" => self.qemu_processes = Some(value.parse().unwrap_or(-1)),
            _ => return false,
        }
        true
    }
}

/// The guests a run asks of the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestLane {
    pub guests: Guests,
    /// The most qemu processes alive at once.
    pub qemu_processes: usize,
}

/// The most qemu processes one scenario of the catalogue needs at once: three VMs (the
/// stun-time rows' prober, target and peer, the NAD swap's VM and its two peers) and the
/// target of one migration.
pub const MOST_VMS_PER_SCENARIO: usize = 4;

/// Modelled seconds per real second in the qemu lane. A real guest boots in real seconds, so
/// the wait budgets (real durations divided by the scale) must leave room for it: at 10 a
/// boot's budget is a minute.
pub const QEMU_TIME_SCALE: f64 = 10.0;

/// Modelled seconds per second of the clock a guest of `os` stamps its output with (a stun
/// probe's timestamps), given the simulator's guests and time `scale` (`None`: a cluster,
/// whose scale is 1). An emulated guest stamps the simulator's real time while the world it
/// models runs `scale` times faster; a real kernel in the qemu lane lives in real time (its
/// frames, its migration's cutover), so its seconds are seconds. What the control plane adds
/// to a real guest's gap (a target pod coming up) is compressed by the scale there, so the
/// lane reads that share of it short.
pub fn clock_scale(guests: Option<Guests>, os: GuestOs, scale: f64) -> f64 {
    let real_kernel = guests == Some(Guests::Qemu) && os != GuestOs::Windows;
    if real_kernel {
        1.0
    } else {
        scale
    }
}

impl Default for GuestLane {
    fn default() -> Self {
        GuestLane {
            guests: Guests::Emulated,
            qemu_processes: MOST_VMS_PER_SCENARIO,
        }
    }
}

impl GuestLane {
    pub(super) fn from_table(table: Table) -> Result<GuestLane, String> {
        let guests = match table.guests.as_deref() {
            None | Some("emulated") => Guests::Emulated,
            Some("qemu") => Guests::Qemu,
            Some(other) => {
                return Err(format!(
                    "sim.guests = {other:?}: use \"emulated\" (the default) or \"qemu\" (real Linux guests)"
                ))
            }
        };
        let qemu_processes = match table.qemu_processes {
            None => MOST_VMS_PER_SCENARIO,
            Some(n) if n >= MOST_VMS_PER_SCENARIO as i64 => n as usize,
            Some(n) => {
                return Err(format!(
                    "sim.qemu_processes = {n}: give a whole number of at least {MOST_VMS_PER_SCENARIO}, the VMs one scenario may boot at once (default {MOST_VMS_PER_SCENARIO})"
                ))
            }
        };
        Ok(GuestLane {
            guests,
            qemu_processes,
        })
    }

    /// Scenarios at once in the qemu lane: as many as can each have all their VMs running,
    /// so none waits for a qemu slot another scenario holds.
    pub fn scenarios_at_once(&self) -> usize {
        (self.qemu_processes / MOST_VMS_PER_SCENARIO).max(1)
    }
}

/// What runs the guests of a simulator served as a cluster (`vstp sim serve`), as it
/// publishes in ConfigMap kube-system/vstp-sim; `None` when it does not say (a real
/// cluster, or an older simulator).
pub async fn of_served_sim(client: &kube::Client) -> Option<Guests> {
    let api = super::kinds::CONFIG_MAP.api(client, "kube-system");
    let map = api.get("vstp-sim").await.ok()?;
    match map.data["data"]["guests"].as_str()? {
        "qemu" => Some(Guests::Qemu),
        "emulated" => Some(Guests::Emulated),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(text: &str) -> Result<GuestLane, String> {
        GuestLane::from_table(toml::from_str(text).unwrap())
    }

    #[test]
    fn only_a_real_kernels_timestamps_are_read_unscaled() {
        let cases = [
            (Some(Guests::Qemu), GuestOs::Rhel, 1.0),
            (Some(Guests::Qemu), GuestOs::Windows, 10.0),
            (Some(Guests::Emulated), GuestOs::Rhel, 10.0),
            (None, GuestOs::Rhel, 10.0),
        ];
        for (guests, os, expected) in cases {
            assert_eq!(clock_scale(guests, os, 10.0), expected, "{guests:?} {os:?}");
        }
    }

    #[test]
    fn the_lane_is_emulated_unless_qemu_is_asked_and_bounds_its_processes() {
        assert_eq!(lane("").unwrap(), GuestLane::default());
        let qemu = lane("guests = \"qemu\"\nqemu_processes = 6\n").unwrap();
        assert_eq!((qemu.guests, qemu.qemu_processes), (Guests::Qemu, 6));
        assert_eq!(qemu.scenarios_at_once(), 1);
        assert_eq!(lane("").unwrap().scenarios_at_once(), 1);
        let eight = lane("guests = \"qemu\"\nqemu_processes = 8\n").unwrap();
        assert_eq!(eight.scenarios_at_once(), 2);
        let wrong = lane("guests = \"kvm\"\n").unwrap_err();
        assert!(
            wrong.contains("\"emulated\"") && wrong.contains("\"qemu\""),
            "{wrong}"
        );
        let few = lane("qemu_processes = 3\n").unwrap_err();
        assert!(few.contains("at least 4"), "{few}");
    }
}

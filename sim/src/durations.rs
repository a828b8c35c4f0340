//! How long the modelled operations take, in modelled seconds: one profile the controllers read
//! instead of constants of their own. `simulator` (the default) keeps the short durations every
//! test and run was written against; `bare-metal` models a three-worker bare-metal OpenShift
//! cluster, so that a catalogue run's modelled makespan and a poller's request count say what
//! they would there (`cargo bench --bench nightly`). Every bare-metal value names its source;
//! where no public measurement exists the value is an estimate and says so.
//!
//! Upstream limits that are not durations (KubeVirt's progress and completion timeouts, the
//! back-off after a failed migration, kubernetes-nmstate's retries) stay where they are: they
//! are the same on every cluster.

/// Modelled seconds of each operation the controllers model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Durations {
    /// The profile's name, as `--durations` takes it.
    pub name: &'static str,
    /// virt-launcher pod from binding to its containers running.
    pub launcher_pod_start: f64,
    /// libvirt defining and starting the domain.
    pub domain_start: f64,
    /// A Linux guest from the domain starting to its guest agent connecting.
    pub linux_boot_to_agent: f64,
    /// A Windows guest from the domain starting to its guest agent connecting.
    pub windows_boot_to_agent: f64,
    /// From the guest agent connecting to sshd accepting connections.
    pub linux_sshd_after_agent: f64,
    pub windows_sshd_after_agent: f64,
    /// A guest shutting down after the VMI is deleted or stopped.
    pub shutdown: f64,
    /// An ordinary pod (a Deployment's or DaemonSet's) from binding to Ready.
    pub pod_start: f64,
    /// kubernetes-nmstate applying and verifying a desired state on one node.
    pub nncp_apply: f64,
    /// A hot-plugged NIC: into the domain, NetworkManager activating it, the agent reporting it.
    pub nic_attach: f64,
    pub nic_activation: f64,
    /// From the NIC being plugged to the agent reporting it (includes `nic_activation`).
    pub nic_agent: f64,
    /// A NIC marked absent leaving the guest.
    pub nic_detach: f64,
    /// A migration's target pod starting, the target preparing, the handoff at the end.
    pub migration_target_pod_start: f64,
    pub migration_target_prepare: f64,
    pub migration_handoff: f64,
    /// The guest onlining memory hot-plugged through a migration.
    pub memory_online: f64,
    /// What one migration stream moves, Gbit/s, when below the NIC speed (`None`: the NIC's).
    pub migration_gbit_per_s: Option<f64>,
}

/// The profile names `Durations::named` knows.
pub const PROFILES: &[&str] = &["simulator", "bare-metal"];

impl Default for Durations {
    fn default() -> Self {
        Durations::simulator()
    }
}

impl Durations {
    /// Short durations (a RHEL guest answers SSH about 25 modelled seconds after creation):
    /// what the simulator always modelled.
    pub const fn simulator() -> Durations {
        Durations {
            name: "simulator",
            launcher_pod_start: 4.0,
            domain_start: 2.0,
            linux_boot_to_agent: 14.0,
            windows_boot_to_agent: 14.0,
            // A minimal guest went from init to an SSH login in 1.5 s (shared/reference/
            // real-guests.md "Boot"); cloud-init's stages before sshd.service add a few seconds.
            // Win32-OpenSSH starts with the agent's peers, without waiting for cloudbase-init.
            linux_sshd_after_agent: 5.0,
            windows_sshd_after_agent: 2.0,
            shutdown: 2.0,
            pod_start: 5.0,
            nncp_apply: 5.0,
            nic_attach: 2.0,
            nic_activation: 2.0,
            nic_agent: 5.0,
            nic_detach: 2.0,
            migration_target_pod_start: 3.0,
            migration_target_prepare: 1.0,
            migration_handoff: 0.5,
            memory_online: 10.0,
            migration_gbit_per_s: None,
        }
    }

    /// A three-worker bare-metal OpenShift cluster with images already on the nodes.
    pub const fn bare_metal() -> Durations {
        Durations {
            name: "bare-metal",
            // Kubernetes' pod startup SLO: 5 s at the 99th percentile for stateless pods, image
            // pulls and init containers excluded (kubernetes/community sig-scalability/slos/
            // pod_startup_latency.md); virt-launcher has init containers (the container disk's
            // copy), volumes and Multus attachments on top (estimate: 10 s).
            launcher_pod_start: 10.0,
            // virt-launcher converting the VMI to a domain, libvirt defining and starting it
            // (estimate: 3 s).
            domain_start: 3.0,
            // RHEL 9 KVM guest image on KVM: firmware, kernel and initrd take seconds (a minimal
            // guest reached init 3.3 s after qemu started even under TCG, shared/reference/
            // real-guests.md "Boot"), systemd's units to qemu-guest-agent the rest (estimate:
            // 30 s; the downstream suite allows 4 min to Running, then waits for the agent's
            // interfaces, then 2 min for SSH: RedHatQE/openshift-virtualization-tests
            // utilities/virt.py running_vm, TIMEOUT_4MIN and ssh_timeout=TIMEOUT_2MIN).
            linux_boot_to_agent: 30.0,
            // First boot of a sysprepped Windows Server 2022 image: the specialize pass, a
            // reboot, OOBE, then the agent (estimate: 5 min; the downstream suite polls
            // `wmic os get Caption` for 25 min and doubles Windows timeouts,
            // RedHatQE/openshift-virtualization-tests, shared/reference/downstream-qe-suite.md §5).
            windows_boot_to_agent: 300.0,
            // cloud-init's init, config and final stages order sshd.service after them on a RHEL
            // cloud image; fetching the NoCloud data and writing keys (estimate: 15 s).
            linux_sshd_after_agent: 15.0,
            // Win32-OpenSSH is an automatic service; cloudbase-init runs beside it (estimate: 30 s).
            windows_sshd_after_agent: 30.0,
            // systemd stopping a RHEL guest's units after ACPI shutdown (estimate: 10 s).
            shutdown: 10.0,
            // The pod startup SLO above, for an ordinary pod (kubernetes/community
            // pod_startup_latency.md).
            pod_start: 5.0,
            // kubernetes-nmstate pkg/client/client.go ApplyDesiredState: select the probes,
            // `nmstatectl apply --no-commit`, run the ping, dns, api-server and node-readiness
            // probes (pkg/probe/probes.go Run, each polled every second, passing on the first
            // poll on a healthy node), commit. nmstate's own verification retries once a
            // second (estimate: 15 s per node).
            nncp_apply: 15.0,
            // Multus dynamic networks attaching the pod interface, virt-handler plugging it into
            // the domain (estimate: 5 s); NetworkManager activating the profile and IPv6 DAD
            // (1 s RetransTimer, RFC 4862 5.4) (estimate: 3 s); the agent's next report of
            // interfaces (estimate: 10 s in all).
            nic_attach: 5.0,
            nic_activation: 3.0,
            nic_agent: 10.0,
            nic_detach: 5.0,
            // The target virt-launcher pod starts as any launcher does (above).
            migration_target_pod_start: 10.0,
            // virt-handler preparing the target domain and its proxies (estimate: 2 s).
            migration_target_prepare: 2.0,
            // Source and target virt-handlers finalizing the migration (estimate: 2 s).
            migration_handoff: 2.0,
            // udev onlining the new memory blocks (estimate: unchanged 10 s).
            memory_online: 10.0,
            // KubeVirt's default bandwidthPerMigration is unlimited (0Mi, kubevirt v1.9.0
            // pkg/virt-config/virt-config.go), so a migration takes what one libvirt TCP stream
            // gets over the OVN-Kubernetes pod network (Geneve encapsulation) on a 10 GbE link:
            // about 4 Gbit/s (estimate), 2.1 s per GiB of pages sent.
            migration_gbit_per_s: Some(4.0),
        }
    }

    /// The profile called `name`; the error lists the ones there are.
    pub fn named(name: &str) -> Result<Durations, String> {
        match name {
            "simulator" => Ok(Durations::simulator()),
            "bare-metal" => Ok(Durations::bare_metal()),
            other => Err(format!(
                "no durations profile `{other}`: use one of {}",
                PROFILES.join(", ")
            )),
        }
    }

    /// Modelled seconds for a guest of this kind to boot to its agent.
    pub fn boot_to_agent(&self, windows: bool) -> f64 {
        if windows {
            self.windows_boot_to_agent
        } else {
            self.linux_boot_to_agent
        }
    }

    /// Modelled seconds from the agent to sshd for a guest of this kind.
    pub fn sshd_after_agent(&self, windows: bool) -> f64 {
        if windows {
            self.windows_sshd_after_agent
        } else {
            self.linux_sshd_after_agent
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_found_by_name_and_an_unknown_name_lists_them() {
        assert_eq!(Durations::named("bare-metal"), Ok(Durations::bare_metal()));
        assert_eq!(Durations::named("simulator"), Ok(Durations::default()));
        let err = Durations::named("fast").unwrap_err();
        assert!(err.contains("simulator, bare-metal"), "{err}");
    }

    #[test]
    fn bare_metal_migrations_move_what_one_stream_gets_not_the_whole_link() {
        let spec = |durations| crate::world::nodes::ClusterSpec {
            durations,
            ..Default::default()
        };
        assert_eq!(spec(Durations::simulator()).link_bytes_per_s(), 10e9 / 8.0);
        assert_eq!(spec(Durations::bare_metal()).link_bytes_per_s(), 4e9 / 8.0);
    }

    #[test]
    fn every_profile_reports_a_nic_after_activating_it() {
        for d in [Durations::simulator(), Durations::bare_metal()] {
            assert!(d.nic_agent >= d.nic_activation, "{}", d.name);
        }
    }
}

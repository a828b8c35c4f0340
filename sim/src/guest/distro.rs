//! Which operating system a VMI's guest runs, as a person reads it off the VM: the boot
//! disk's containerDisk image (`quay.io/containerdisks/fedora:41` boots Fedora 41, not RHEL),
//! else the OS hints the templates and preferences leave (`vm.kubevirt.io/os`,
//! `kubevirt.io/preference-name`, `os.template.kubevirt.io/<os>` labels). A VM with neither
//! (a bare spec, a PVC or DataVolume root disk) runs the simulator's reference guest, RHEL
//! 9.6; an image the simulator cannot place runs it too, and says so ([`Identified::note`]).
//!
//! The release data is what each guest's qemu-guest-agent `guest-get-osinfo` and
//! `/etc/os-release` report. Images without qemu-guest-agent (CirrOS, Ubuntu cloud images)
//! never connect an agent, as on a cluster.

use serde_json::{json, Value};

use super::Os;
use crate::obj;

/// One guest OS release.
#[derive(Debug, PartialEq, Eq)]
pub struct Distro {
    /// os-release `ID`, guest agent `id`.
    pub id: &'static str,
    pub name: &'static str,
    pub version: &'static str,
    pub version_id: &'static str,
    pub pretty_name: &'static str,
    /// `uname -r`.
    pub kernel_release: &'static str,
    pub kernel_version: &'static str,
    pub os: Os,
    /// The image's cloud-init default account.
    pub default_user: &'static str,
    /// The image ships qemu-guest-agent (AgentConnected, guestOSInfo, guest-agent subresources).
    pub guest_agent: bool,
    /// The default account's password baked into the image, which its sshd accepts: Windows
    /// golden images are sysprepped with the Administrator password set (no cloud-init); Linux
    /// cloud images ship sshd with `PasswordAuthentication no`.
    pub image_password: Option<&'static str>,
}

/// The Administrator password of the simulator's Windows images (what a site's golden image
/// build sets in its unattend answer file; the harness reads it from `guest.windows_password`).
pub const WINDOWS_IMAGE_PASSWORD: &str = "Vstp-Sim-W1ndows!";

const fn linux(
    id: &'static str,
    name: &'static str,
    version: &'static str,
    version_id: &'static str,
    pretty_name: &'static str,
    kernel_release: &'static str,
    default_user: &'static str,
) -> Distro {
    Distro {
        id,
        name,
        version,
        version_id,
        pretty_name,
        kernel_release,
        kernel_version: "#1 SMP PREEMPT_DYNAMIC",
        os: Os::Linux,
        default_user,
        guest_agent: true,
        image_password: None,
    }
}

const fn windows(pretty_name: &'static str, version: &'static str, build: &'static str) -> Distro {
    Distro {
        id: "mswindows",
        name: "Microsoft Windows",
        version,
        version_id: version,
        pretty_name,
        kernel_release: build,
        kernel_version: "10.0",
        os: Os::Windows,
        default_user: "Administrator",
        guest_agent: true,
        image_password: Some(WINDOWS_IMAGE_PASSWORD),
    }
}

const fn without_agent(d: Distro) -> Distro {
    Distro {
        guest_agent: false,
        ..d
    }
}

pub static RHEL_9: Distro = linux(
    "rhel",
    "Red Hat Enterprise Linux",
    "9.6 (Plow)",
    "9.6",
    "Red Hat Enterprise Linux 9.6 (Plow)",
    "5.14.0-570.49.1.el9_6.x86_64",
    "cloud-user",
);
static RHEL_8: Distro = linux(
    "rhel",
    "Red Hat Enterprise Linux",
    "8.10 (Ootpa)",
    "8.10",
    "Red Hat Enterprise Linux 8.10 (Ootpa)",
    "4.18.0-553.el8_10.x86_64",
    "cloud-user",
);
static RHEL_10: Distro = linux(
    "rhel",
    "Red Hat Enterprise Linux",
    "10.0 (Coughlan)",
    "10.0",
    "Red Hat Enterprise Linux 10.0 (Coughlan)",
    "6.12.0-55.9.1.el10_0.x86_64",
    "cloud-user",
);
static CENTOS_STREAM_9: Distro = linux(
    "centos",
    "CentOS Stream",
    "9",
    "9",
    "CentOS Stream 9",
    "5.14.0-592.el9.x86_64",
    "cloud-user",
);
static CENTOS_STREAM_10: Distro = linux(
    "centos",
    "CentOS Stream",
    "10 (Coughlan)",
    "10",
    "CentOS Stream 10 (Coughlan)",
    "6.12.0-100.el10.x86_64",
    "cloud-user",
);
static FEDORA_40: Distro = linux(
    "fedora",
    "Fedora Linux",
    "40 (Cloud Edition)",
    "40",
    "Fedora Linux 40 (Cloud Edition)",
    "6.8.5-301.fc40.x86_64",
    "fedora",
);
static FEDORA_41: Distro = linux(
    "fedora",
    "Fedora Linux",
    "41 (Cloud Edition)",
    "41",
    "Fedora Linux 41 (Cloud Edition)",
    "6.11.4-301.fc41.x86_64",
    "fedora",
);
static FEDORA_42: Distro = linux(
    "fedora",
    "Fedora Linux",
    "42 (Cloud Edition)",
    "42",
    "Fedora Linux 42 (Cloud Edition)",
    "6.14.0-63.fc42.x86_64",
    "fedora",
);
static UBUNTU_22: Distro = without_agent(linux(
    "ubuntu",
    "Ubuntu",
    "22.04.5 LTS (Jammy Jellyfish)",
    "22.04",
    "Ubuntu 22.04.5 LTS",
    "5.15.0-140-generic",
    "ubuntu",
));
static UBUNTU_24: Distro = without_agent(linux(
    "ubuntu",
    "Ubuntu",
    "24.04.2 LTS (Noble Numbat)",
    "24.04",
    "Ubuntu 24.04.2 LTS",
    "6.8.0-60-generic",
    "ubuntu",
));
static CIRROS: Distro = without_agent(linux(
    "cirros",
    "CirrOS",
    "0.6.2",
    "0.6.2",
    "CirrOS 0.6.2",
    "5.15.0-71-generic",
    "cirros",
));
static WINDOWS_2022: Distro = windows("Windows Server 2022 Datacenter", "2022", "20348");
static WINDOWS_2019: Distro = windows("Windows Server 2019 Datacenter", "2019", "17763");
static WINDOWS_2025: Distro = windows("Windows Server 2025 Datacenter", "2025", "26100");
static WINDOWS_11: Distro = windows("Windows 11 Enterprise", "11", "22631");
static WINDOWS_10: Distro = windows("Windows 10 Enterprise", "10", "19045");

/// A family the name of an image or hint places, and its releases by the version token that
/// picks them (the first is the default).
struct Family {
    keys: &'static [&'static str],
    releases: &'static [(&'static [&'static str], &'static Distro)],
}

/// Windows before the Linux families: `windows2k22` must not match anything else.
static FAMILIES: &[Family] = &[
    Family {
        keys: &["windows", "win"],
        releases: &[
            (&["2k22", "2022"], &WINDOWS_2022),
            (&["2k19", "2019"], &WINDOWS_2019),
            (&["2k25", "2025"], &WINDOWS_2025),
            (&["11"], &WINDOWS_11),
            (&["10"], &WINDOWS_10),
        ],
    },
    Family {
        keys: &["cirros"],
        releases: &[(&[], &CIRROS)],
    },
    Family {
        keys: &["fedora"],
        releases: &[
            (&["42"], &FEDORA_42),
            (&["41"], &FEDORA_41),
            (&["40"], &FEDORA_40),
        ],
    },
    Family {
        keys: &["centos"],
        releases: &[(&["9"], &CENTOS_STREAM_9), (&["10"], &CENTOS_STREAM_10)],
    },
    Family {
        keys: &["rhel"],
        releases: &[(&["9"], &RHEL_9), (&["8"], &RHEL_8), (&["10"], &RHEL_10)],
    },
    Family {
        keys: &["ubuntu"],
        releases: &[(&["24"], &UBUNTU_24), (&["22"], &UBUNTU_22)],
    },
];

/// Families a person names, for the note on an image the simulator cannot place.
const KNOWN: &str = "fedora, rhel, centos-stream, cirros, ubuntu, windows";

/// The guest OS of one VMI and what decided it.
#[derive(Debug)]
pub struct Identified {
    pub distro: &'static Distro,
    /// Why an unplaced image runs the reference guest; `None` when the VM said what it runs.
    pub note: Option<String>,
}

/// The guest OS `vmi` boots.
pub fn of_vmi(vmi: &Value) -> Identified {
    let image = boot_image(vmi);
    if let Some(distro) = image.as_deref().and_then(place) {
        return Identified { distro, note: None };
    }
    if let Some(distro) = hints(vmi).iter().find_map(|h| place(h)) {
        return Identified { distro, note: None };
    }
    let note = image.map(|image| {
        format!(
            "vstp-sim cannot tell which OS containerDisk image {image:?} holds (it knows {KNOWN} by \
             name, or a vm.kubevirt.io/os annotation or kubevirt.io/preference-name); the guest \
             runs as {}",
            RHEL_9.pretty_name
        )
    });
    Identified {
        distro: &RHEL_9,
        note,
    }
}

/// The containerDisk image of the disk the VM boots from: the lowest `bootOrder`, else the
/// first disk listed (libvirt's order), else the first containerDisk volume.
fn boot_image(vmi: &Value) -> Option<String> {
    let spec = &vmi["spec"];
    let volumes = spec["volumes"].as_array().map_or(&[][..], Vec::as_slice);
    let image_of = |volume: &str| {
        volumes
            .iter()
            .find(|v| v["name"] == volume)
            .and_then(|v| v["containerDisk"]["image"].as_str())
    };
    let mut disks: Vec<&Value> = spec["domain"]["devices"]["disks"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    disks.sort_by_key(|d| d["bootOrder"].as_u64().unwrap_or(u64::MAX));
    disks
        .iter()
        .find_map(|d| d["name"].as_str().and_then(image_of))
        .or_else(|| {
            volumes
                .iter()
                .find_map(|v| v["containerDisk"]["image"].as_str())
        })
        .map(String::from)
}

/// OS names the templates and instancetype preferences leave on the VMI.
fn hints(vmi: &Value) -> Vec<String> {
    let mut out: Vec<String> = [
        "vm.kubevirt.io/os",
        "kubevirt.io/preference-name",
        "kubevirt.io/cluster-preference-name",
    ]
    .iter()
    .filter_map(|k| obj::annotation(vmi, k))
    .map(String::from)
    .collect();
    out.extend(
        obj::labels(vmi)
            .keys()
            .filter_map(|k| k.strip_prefix("os.template.kubevirt.io/"))
            .map(String::from),
    );
    out
}

/// The release a name (an image reference or a hint) places, if any: the family from the
/// repository's name, the release from the first version token of the name and tag.
pub fn place(reference: &str) -> Option<&'static Distro> {
    let lower = reference.to_lowercase();
    let without_digest = lower.split('@').next().unwrap_or_default();
    let last = without_digest.rsplit('/').next().unwrap_or_default();
    let (repo, tag) = last.split_once(':').unwrap_or((last, ""));
    let path = without_digest.rsplit_once('/').map_or("", |(p, _)| p);
    // The repository's own name first: `quay.io/twin/fedora` is Fedora.
    let named = |within: &str| {
        FAMILIES
            .iter()
            .find(|f| f.keys.iter().any(|k| within.contains(k)))
    };
    let family = named(repo).or_else(|| named(path))?;
    let words = version_tokens(&format!("{path} {repo} {tag}"));
    let release = words
        .iter()
        .find_map(|w| {
            family
                .releases
                .iter()
                .find(|(tokens, _)| tokens.iter().any(|t| t == w))
        })
        .unwrap_or(&family.releases[0]);
    Some(release.1)
}

/// Version-like tokens: runs of digits and `2k22`-style words, with the major of `9.6`.
fn version_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (c == 'k' && !current.is_empty()) {
            current.push(c);
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

impl Distro {
    /// `status.guestOSInfo` as virt-handler copies it from the agent.
    pub fn guest_os_info(&self) -> Value {
        json!({"name": self.name, "prettyName": self.pretty_name, "version": self.version,
               "versionId": self.version_id, "id": self.id, "kernelRelease": self.kernel_release,
               "kernelVersion": self.kernel_version, "machine": "x86_64"})
    }

    /// `/etc/os-release`.
    pub fn os_release(&self) -> String {
        format!(
            "NAME=\"{}\"\nVERSION=\"{}\"\nID=\"{}\"\nVERSION_ID=\"{}\"\nPRETTY_NAME=\"{}\"\n",
            self.name, self.version, self.id, self.version_id, self.pretty_name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_name_the_os_a_person_expects() {
        let cases: &[(&str, &Distro)] = &[
            ("quay.io/containerdisks/fedora:41", &FEDORA_41),
            ("quay.io/containerdisks/fedora:latest", &FEDORA_42),
            (
                "quay.io/kubevirt/fedora-with-test-tooling-container-disk:v1.9.0",
                &FEDORA_42,
            ),
            ("registry.redhat.io/rhel9/rhel-guest-image:latest", &RHEL_9),
            ("registry.redhat.io/rhel8/rhel-guest-image:8.10", &RHEL_8),
            ("registry.redhat.io/rhel10/rhel-guest-image:10.0", &RHEL_10),
            ("quay.io/containerdisks/centos-stream:9", &CENTOS_STREAM_9),
            ("quay.io/containerdisks/centos-stream:10", &CENTOS_STREAM_10),
            (
                "quay.io/kubevirt/cirros-container-disk-demo:v1.9.0",
                &CIRROS,
            ),
            ("quay.io/containerdisks/ubuntu:22.04", &UBUNTU_22),
            ("vstp.local/windows2k22:latest", &WINDOWS_2022),
            ("registry.example.com/win2k19@sha256:abc", &WINDOWS_2019),
            ("windows11", &WINDOWS_11),
            ("rhel.9", &RHEL_9),
            ("centos.stream10", &CENTOS_STREAM_10),
            ("registry.example.com/twin/fedora:40", &FEDORA_40),
        ];
        for (image, want) in cases {
            assert_eq!(place(image), Some(*want), "{image}");
        }
        assert_eq!(place("quay.io/example/appliance:1.0"), None);
    }

    #[test]
    fn the_boot_disk_image_wins_over_hints_and_unknown_images_say_so() {
        let vmi = json!({"metadata": {"annotations": {"vm.kubevirt.io/os": "rhel9"}},
            "spec": {"domain": {"devices": {"disks": [{"name": "data"}, {"name": "root", "bootOrder": 1}]}},
                     "volumes": [{"name": "data", "containerDisk": {"image": "quay.io/containerdisks/centos-stream:9"}},
                                 {"name": "root", "containerDisk": {"image": "quay.io/containerdisks/fedora:41"}}]}});
        let found = of_vmi(&vmi);
        assert_eq!((found.distro, found.note), (&FEDORA_41, None));

        let hinted = json!({"metadata": {"annotations": {"vm.kubevirt.io/os": "fedora"}},
            "spec": {"volumes": [{"name": "root", "persistentVolumeClaim": {"claimName": "root"}}]}});
        assert_eq!(of_vmi(&hinted).distro, &FEDORA_42);

        let unknown = json!({"spec": {"volumes": [{"name": "root", "containerDisk": {"image": "quay.io/example/appliance:1.0"}}]}});
        let found = of_vmi(&unknown);
        assert_eq!(found.distro, &RHEL_9);
        assert!(found
            .note
            .unwrap()
            .contains("\"quay.io/example/appliance:1.0\""));

        let bare = of_vmi(&json!({"spec": {}}));
        assert_eq!((bare.distro, bare.note), (&RHEL_9, None));
    }
}

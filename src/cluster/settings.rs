//! `vstp.toml`: what a cluster run needs to know that the cluster cannot say (images, users,
//! NICs, VLANs, subnets, storage, timeouts, the Polarion test run), with environment overrides for
//! CI. Without a file the defaults fit `vstp sim serve`, so the whole catalogue runs against a
//! standalone simulator with `--target cluster`. Unknown keys and impossible values are errors
//! that name the key and say what is allowed.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::build::Image;
use super::polarion::{self, PolarionRun};
use super::profile::{Families, Profile};
use crate::guest::os::Dirtier;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// The project alone, as older files give it; `[polarion] project_id` is the same.
    polarion_project: Option<String>,
    #[serde(default)]
    polarion: polarion::Table,
    /// "standard" or "slow" (every wait budget doubled, for loaded bare-metal clusters).
    timeout_profile: Option<String>,
    ssh_timeout_seconds: Option<u64>,
    #[serde(default)]
    images: Images,
    #[serde(default)]
    guest: Guest,
    #[serde(default)]
    network: Network,
    #[serde(default)]
    storage: Storage,
    /// The STP tree to read instead of the project's `stps/`: a folder of STPs or a checkout
    /// of the design-docs repository; relative to the settings file.
    stps: Option<PathBuf>,
    #[serde(default)]
    stuntime: Stuntime,
    #[serde(default)]
    sim: super::guest_lane::Table,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stuntime {
    threshold_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Images {
    rhel: Option<ImageSpec>,
    windows: Option<ImageSpec>,
}

/// One of: `{ container_disk = "..." }`, `{ data_source = "...", namespace = "...", size = "..." }`,
/// `{ pvc = "..." }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageSpec {
    container_disk: Option<String>,
    data_source: Option<String>,
    namespace: Option<String>,
    size: Option<String>,
    pvc: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Guest {
    rhel_user: Option<String>,
    windows_user: Option<String>,
    windows_password: Option<String>,
    windows_preference: Option<String>,
    /// "python3" (cloud-init's, in every RHEL cloud image), "dd" (coreutils) or "stress-ng"
    /// (the image must have it).
    rhel_memory_dirtier: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Network {
    bridge_nic: Option<String>,
    localnet_nic: Option<String>,
    vlans: Option<Vec<i64>>,
    ipv4_prefix: Option<String>,
    ipv6_prefix: Option<String>,
    families: Option<Vec<String>>,
    external_host: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Storage {
    class: Option<String>,
}

/// What the settings give a run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: Profile,
    /// The test-run properties of the JUnit, for Polarion's importer.
    pub polarion: PolarionRun,
    /// Where they came from, for messages.
    pub source: String,
    /// The STP tree named by the settings (`stps = "…"`, `VSTP_STPS` wins over it).
    pub stps: Option<PathBuf>,
    /// The in-process simulator's guests (`[sim]`).
    pub guest_lane: super::guest_lane::GuestLane,
}

/// Reads `path` (or `VSTP_CONFIG`, or `./vstp.toml` when present) and applies `VSTP_*`
/// environment overrides, and the `POLARION_*` ones of the CNV QE jobs.
pub fn load(path: Option<&Path>) -> Result<Settings, String> {
    let chosen = path
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("VSTP_CONFIG").map(PathBuf::from))
        .or_else(|| Some(PathBuf::from("vstp.toml")).filter(|p| p.exists()));
    let (text, source) = match &chosen {
        Some(p) => (
            std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read the settings file {}: {e}", p.display()))?,
            p.display().to_string(),
        ),
        None => (String::new(), "defaults (no vstp.toml)".into()),
    };
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("VSTP_") || polarion::reads_env(k))
        .collect();
    let mut settings = parse(&text, &source, &env)?;
    let dir = chosen.as_deref().and_then(Path::parent);
    settings.stps = settings.stps.map(|tree| match dir {
        Some(dir) if tree.is_relative() => dir.join(tree),
        _ => tree,
    });
    Ok(settings)
}

/// The settings of `text` with `env` overrides applied; `source` names the file in errors.
pub fn parse(text: &str, source: &str, env: &[(String, String)]) -> Result<Settings, String> {
    let mut file: File = toml::from_str(text).map_err(|e| format!("{source}: {e}"))?;
    for (key, value) in env {
        override_with(&mut file, key, value);
    }
    build(file, source).map_err(|e| format!("{source}: {e}"))
}

/// The environment overrides CI uses most.
fn override_with(file: &mut File, key: &str, value: &str) {
    let v = || Some(value.to_string());
    if file.sim.override_with(key, value) {
        return;
    }
    match key {
        // The environment's project wins over the file's, wherever the file gives it.
        "VSTP_POLARION_PROJECT" if !value.is_empty() => {
            file.polarion_project = None;
            file.polarion.override_with(key, value)
        }
        "VSTP_TIMEOUT_PROFILE" => file.timeout_profile = v(),
        "VSTP_RHEL_IMAGE" => file.images.rhel = Some(container_disk(value)),
        "VSTP_WINDOWS_PASSWORD" => file.guest.windows_password = v(),
        "VSTP_WINDOWS_PREFERENCE" => file.guest.windows_preference = v(),
        "VSTP_WINDOWS_IMAGE" => file.images.windows = Some(container_disk(value)),
        "VSTP_RHEL_DATA_SOURCE" => file.images.rhel = Some(data_source(value)),
        "VSTP_WINDOWS_DATA_SOURCE" => file.images.windows = Some(data_source(value)),
        "VSTP_BRIDGE_NIC" => file.network.bridge_nic = v(),
        "VSTP_LOCALNET_NIC" => file.network.localnet_nic = v(),
        "VSTP_EXTERNAL_HOST" => file.network.external_host = v(),
        "VSTP_STORAGE_CLASS" => file.storage.class = v(),
        _ => file.polarion.override_with(key, value),
    }
}

fn container_disk(image: &str) -> ImageSpec {
    ImageSpec {
        container_disk: Some(image.into()),
        ..Default::default()
    }
}

/// `namespace/name` or `name` (in openshift-virtualization-os-images).
fn data_source(text: &str) -> ImageSpec {
    let (namespace, name) = text.split_once('/').unwrap_or(("", text));
    ImageSpec {
        data_source: Some(name.into()),
        namespace: Some(namespace.to_string()).filter(|n| !n.is_empty()),
        ..Default::default()
    }
}

fn build(file: File, source: &str) -> Result<Settings, String> {
    let defaults = Profile::default();
    let class = file.storage.class.clone();
    let storage_class = class.clone();
    let image = |spec: Option<ImageSpec>, key: &str, default: Image| match spec {
        None => Ok(default),
        Some(spec) => image(spec, key, class.clone()),
    };
    let windows_configured = file.images.windows.is_some();
    let polarion = file.polarion.build(file.polarion_project)?;
    let net = file.network;
    let profile = Profile {
        rhel_image: image(file.images.rhel, "images.rhel", defaults.rhel_image)?,
        windows_image: image(
            file.images.windows,
            "images.windows",
            defaults.windows_image,
        )?,
        windows_configured,
        rhel_user: file.guest.rhel_user.unwrap_or(defaults.rhel_user),
        windows_user: file.guest.windows_user.unwrap_or(defaults.windows_user),
        windows_password: match file.guest.windows_password {
            Some(p) if p.is_empty() => {
                return Err("guest.windows_password is empty: give the Windows image's password, or leave it out to log in with a key through accessCredentials".into())
            }
            given => given,
        },
        windows_preference: match file.guest.windows_preference {
            Some(p) if p.trim().is_empty() => {
                return Err("guest.windows_preference is empty: name a VirtualMachineClusterPreference such as \"windows.2k22\", or leave it out".into())
            }
            given => given,
        },
        rhel_dirtier: match file.guest.rhel_memory_dirtier.as_deref() {
            None | Some("python3") => Dirtier::Python,
            Some("dd") => Dirtier::Coreutils,
            Some("stress-ng") => Dirtier::StressNg,
            Some(other) => {
                return Err(format!(
                    "guest.rhel_memory_dirtier = {other:?}: use \"python3\" (cloud-init's, in \
                     every RHEL cloud image), \"dd\" (coreutils) or \"stress-ng\" (only where \
                     the image has the stress-ng package)"
                ))
            }
        },
        bridge_nic: net.bridge_nic.unwrap_or(defaults.bridge_nic),
        localnet_nic: net.localnet_nic.unwrap_or(defaults.localnet_nic),
        vlans: match net.vlans {
            Some(v) => vlans(&v)?,
            None => defaults.vlans,
        },
        ipv4_prefix: match net.ipv4_prefix {
            Some(p) => ipv4_prefix(&p)?,
            None => defaults.ipv4_prefix,
        },
        ipv6_prefix: match net.ipv6_prefix {
            Some(p) => ipv6_prefix(&p)?,
            None => defaults.ipv6_prefix,
        },
        families: match net.families {
            Some(f) => families(&f)?,
            None => defaults.families,
        },
        external_host: match net.external_host {
            Some(text) => external_host(&text)?,
            None => defaults.external_host,
        },
        ssh_timeout: file
            .ssh_timeout_seconds
            .map_or(defaults.ssh_timeout, std::time::Duration::from_secs),
        storage_class,
        stuntime_threshold: match file.stuntime.threshold_seconds {
            None => defaults.stuntime_threshold,
            Some(t) if t.is_finite() && t > 0.0 => t,
            Some(t) => {
                return Err(format!(
                    "stuntime.threshold_seconds = {t}: give the longest acceptable connectivity gap of a live migration in seconds, a positive number (default 5.0)"
                ))
            }
        },
        slow: match file.timeout_profile.as_deref() {
            None | Some("standard") => false,
            Some("slow") => true,
            Some(other) => {
                return Err(format!(
                    "timeout_profile = {other:?}: use \"standard\" or \"slow\""
                ))
            }
        },
    };
    Ok(Settings {
        profile,
        polarion,
        source: source.into(),
        stps: file.stps,
        guest_lane: super::guest_lane::GuestLane::from_table(file.sim)?,
    })
}

fn image(spec: ImageSpec, key: &str, class: Option<String>) -> Result<Image, String> {
    match (spec.container_disk, spec.data_source, spec.pvc) {
        (Some(image), None, None) => Ok(Image::ContainerDisk(image)),
        (None, Some(name), None) => Ok(Image::DataSource {
            name,
            namespace: spec
                .namespace
                .unwrap_or_else(|| "openshift-virtualization-os-images".into()),
            size: spec.size.unwrap_or_else(|| "30Gi".into()),
            storage_class: class,
        }),
        (None, None, Some(claim)) => Ok(Image::Pvc(claim)),
        _ => Err(format!(
            "{key} needs exactly one of container_disk, data_source or pvc"
        )),
    }
}

fn vlans(given: &[i64]) -> Result<[u16; 2], String> {
    let valid = |v: i64| (1..=4094).contains(&v);
    match given {
        [a, b] if valid(*a) && valid(*b) && a != b => Ok([*a as u16, *b as u16]),
        _ => Err(format!(
            "network.vlans = {given:?}: give two different VLAN IDs between 1 and 4094 that the switch carries to every worker"
        )),
    }
}

fn ipv4_prefix(text: &str) -> Result<[u8; 2], String> {
    let parts: Vec<Option<u8>> = text.split('.').map(|p| p.parse().ok()).collect();
    match parts[..] {
        [Some(a), Some(b)] => Ok([a, b]),
        _ => Err(format!(
            "network.ipv4_prefix = {text:?}: give the first two octets, e.g. \"10.200\" (scenarios use <prefix>.<n>.0/24)"
        )),
    }
}

fn ipv6_prefix(text: &str) -> Result<[u16; 2], String> {
    let parts: Vec<Option<u16>> = text
        .split(':')
        .map(|p| u16::from_str_radix(p, 16).ok())
        .collect();
    match parts[..] {
        [Some(a), Some(b)] => Ok([a, b]),
        _ => Err(format!(
            "network.ipv6_prefix = {text:?}: give the first two groups, e.g. \"fd00:200\" (scenarios use <prefix>:<n>::/64)"
        )),
    }
}

fn external_host(text: &str) -> Result<std::net::SocketAddr, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "network.external_host = {text:?}: give the IP address and port of a host outside \
             the cluster that answers a TCP connection with the client address it sees, e.g. \
             \"198.51.100.10:8080\""
        )
    })
}

fn families(given: &[String]) -> Result<Families, String> {
    let mut f = Families {
        v4: false,
        v6: false,
    };
    for family in given {
        match family.as_str() {
            "ipv4" => f.v4 = true,
            "ipv6" => f.v6 = true,
            other => {
                return Err(format!(
                    "network.families has {other:?}: use \"ipv4\" and/or \"ipv6\""
                ))
            }
        }
    }
    if !f.v4 && !f.v6 {
        return Err("network.families is empty: list \"ipv4\", \"ipv6\" or both".into());
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<Settings, String> {
        parse(text, "vstp.toml", &[])
    }

    #[test]
    fn an_stp_tree_is_taken_relative_to_the_settings_file() {
        let dir = std::env::temp_dir().join(format!("vstp-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("vstp.toml");
        std::fs::write(&file, "stps = \"design-docs\"\n").unwrap();
        let loaded = load(Some(&file));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(loaded.unwrap().stps, Some(dir.join("design-docs")));
        assert_eq!(settings("").unwrap().stps, None);
    }

    #[test]
    fn no_file_means_the_simulator_defaults() {
        let s = settings("").unwrap();
        assert_eq!(s.profile.bridge_nic, "eth1");
        assert_eq!(s.profile.vlans, [10, 20]);
        assert!(!s.profile.windows_configured);
    }

    #[test]
    fn a_cluster_file_sets_images_nics_vlans_and_storage() {
        let s = settings(
            r#"
            polarion_project = "CNV"
            timeout_profile = "slow"
            [images]
            rhel = { data_source = "rhel9" }
            windows = { data_source = "win2k22", size = "60Gi" }
            [network]
            bridge_nic = "ens4"
            vlans = [1010, 1020]
            families = ["ipv4"]
            [storage]
            class = "ocs-storagecluster-ceph-rbd-virtualization"
            "#,
        )
        .unwrap();
        let p = &s.profile;
        assert!(p.windows_configured && p.slow);
        assert_eq!((p.bridge_nic.as_str(), p.vlans), ("ens4", [1010, 1020]));
        assert_eq!(
            p.families,
            Families {
                v4: true,
                v6: false
            }
        );
        let Image::DataSource {
            namespace,
            size,
            storage_class,
            ..
        } = &p.windows_image
        else {
            panic!("{:?}", p.windows_image)
        };
        assert_eq!(namespace, "openshift-virtualization-os-images");
        assert_eq!(size, "60Gi");
        assert_eq!(
            storage_class.as_deref(),
            Some("ocs-storagecluster-ceph-rbd-virtualization")
        );
    }

    #[test]
    fn mistakes_name_the_key_and_what_is_allowed() {
        let unknown = settings("[network]\nbridge_nick = \"eth1\"").unwrap_err();
        assert!(unknown.contains("unknown field `bridge_nick`"), "{unknown}");
        let vlan = settings("[network]\nvlans = [10, 5000]").unwrap_err();
        assert!(vlan.contains("between 1 and 4094"), "{vlan}");
        let image =
            settings("[images]\nrhel = { container_disk = \"a\", pvc = \"b\" }").unwrap_err();
        assert!(image.contains("exactly one of"), "{image}");
        let profile = settings("timeout_profile = \"fast\"").unwrap_err();
        assert!(profile.contains("\"standard\" or \"slow\""), "{profile}");
        let dirtier = settings("[guest]\nrhel_memory_dirtier = \"memtester\"").unwrap_err();
        assert!(
            ["\"python3\"", "\"dd\"", "\"stress-ng\""]
                .iter()
                .all(|name| dirtier.contains(name)),
            "{dirtier}"
        );
    }

    #[test]
    fn the_external_host_is_the_simulators_unless_given_as_address_and_port() {
        let sim = settings("").unwrap().profile.external_host;
        assert_eq!(sim.to_string(), "198.51.100.10:8080");
        let lab = settings("[network]\nexternal_host = \"10.9.8.7:5000\"").unwrap();
        assert_eq!(lab.profile.external_host.to_string(), "10.9.8.7:5000");
        let named = settings("[network]\nexternal_host = \"lab-host\"").unwrap_err();
        assert!(named.contains("IP address and port"), "{named}");
    }

    #[test]
    fn the_rhel_dirtier_is_python3_unless_another_is_named() {
        let named = |name: &str| {
            settings(&format!("[guest]\nrhel_memory_dirtier = \"{name}\""))
                .unwrap()
                .profile
                .rhel_dirtier
        };
        assert_eq!(settings("").unwrap().profile.rhel_dirtier, Dirtier::Python);
        assert_eq!(named("python3"), Dirtier::Python);
        assert_eq!(named("dd"), Dirtier::Coreutils);
        assert_eq!(named("stress-ng"), Dirtier::StressNg);
    }

    #[test]
    fn the_stuntime_threshold_is_five_seconds_unless_set_and_must_be_positive() {
        assert_eq!(settings("").unwrap().profile.stuntime_threshold, 5.0);
        let set = settings("[stuntime]\nthreshold_seconds = 2.5\n").unwrap();
        assert_eq!(set.profile.stuntime_threshold, 2.5);
        let refused = settings("[stuntime]\nthreshold_seconds = 0.0\n").unwrap_err();
        assert!(refused.contains("stuntime.threshold_seconds"), "{refused}");
    }

    #[test]
    fn the_example_file_in_the_repository_is_valid() {
        let text = include_str!("../../vstp.example.toml");
        let s = parse(text, "vstp.example.toml", &[]).unwrap();
        assert_eq!(s.profile.bridge_nic, "ens4");
        assert!(s.profile.windows_configured);
        assert_eq!(s.polarion.user_id.as_deref(), Some("cnvqe"));
    }

    #[test]
    fn a_windows_password_is_read_and_an_empty_one_refused() {
        let s = settings("[guest]\nwindows_password = \"Pa55!\"").unwrap();
        assert_eq!(s.profile.windows_password.as_deref(), Some("Pa55!"));
        let env = [("VSTP_WINDOWS_PASSWORD".to_string(), "env".to_string())];
        let s = parse("", "vstp.toml", &env).unwrap();
        assert_eq!(s.profile.windows_password.as_deref(), Some("env"));
        let empty = settings("[guest]\nwindows_password = \"\"").unwrap_err();
        assert!(empty.contains("guest.windows_password is empty"), "{empty}");
        let s = settings("[guest]\nwindows_preference = \"windows.2k22\"").unwrap();
        assert_eq!(
            s.profile.windows_preference.as_deref(),
            Some("windows.2k22")
        );
    }

    #[test]
    fn the_polarion_table_and_the_jobs_variables_give_the_test_run() {
        let env = [
            ("POLARION_TESTRUN_ID".to_string(), "nightly-1".to_string()),
            ("VSTP_POLARION_PROJECT".to_string(), "CNVQE".to_string()),
        ];
        let text = "polarion_project = \"CNV\"\n[polarion]\nuser_id = \"cnvqe\"";
        let p = parse(text, "vstp.toml", &env).unwrap().polarion;
        assert_eq!(p.testrun_id.as_deref(), Some("nightly-1"));
        assert_eq!(
            (p.project_id.as_str(), p.user_id.as_deref()),
            ("CNVQE", Some("cnvqe"))
        );
        let bad = settings("[polarion]\ntestrun_status_id = \"in progress\"").unwrap_err();
        assert!(
            bad.starts_with("vstp.toml: polarion.testrun_status_id"),
            "{bad}"
        );
        let unknown = settings("[polarion]\nplannedin = \"x\"").unwrap_err();
        assert!(unknown.contains("unknown field `plannedin`"), "{unknown}");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let env = [("VSTP_BRIDGE_NIC".to_string(), "ens5".to_string())];
        let s = parse("[network]\nbridge_nic = \"ens4\"", "vstp.toml", &env).unwrap();
        assert_eq!(s.profile.bridge_nic, "ens5");
    }
}

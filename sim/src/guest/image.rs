//! The RHEL golden image the simulated cluster boots: by default a RHEL 9 KVM guest image and
//! nothing more; the settings may name packages an image was built with on top, and say
//! whether its guests reach a package repository (registered, or given a repo by cloud-init).

use super::posix::packages;

/// What the RHEL guests' image has beyond a RHEL 9 KVM guest image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestImage {
    /// Packages installed in the image, as in one built with them (`nmap-ncat`, `stress-ng`).
    pub extra_packages: Vec<String>,
    /// A package repository answers the guests' `dnf` (none does by default: the image is
    /// not registered and has no repository configured).
    pub repository: bool,
}

impl GuestImage {
    /// Refuses a package the model does not know, naming those it does.
    pub fn check(&self) -> Result<(), String> {
        for name in &self.extra_packages {
            if packages::named(name).is_none() {
                let known: Vec<&str> = packages::AVAILABLE.iter().map(|p| p.name).collect();
                return Err(format!(
                    "the simulated RHEL image cannot have the package {name:?}: the packages it \
                     can add to a RHEL 9 KVM guest image are {}",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The packages installed in a guest booted from this image.
    pub fn installed(&self) -> Vec<&'static str> {
        let mut all = packages::image();
        for name in &self.extra_packages {
            if let Some(p) = packages::named(name).filter(|p| !all.contains(&p.name)) {
                all.push(p.name);
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_image_has_no_ncat_or_stress_ng_and_extras_are_added_once() {
        let default = GuestImage::default().installed();
        assert!(default.contains(&"python3") && default.contains(&"coreutils"));
        assert!(!default.contains(&"nmap-ncat") && !default.contains(&"stress-ng"));
        let image = GuestImage {
            extra_packages: vec!["stress-ng".into(), "bash".into()],
            repository: false,
        };
        assert!(image.check().is_ok());
        let installed = image.installed();
        assert!(installed.contains(&"stress-ng"));
        assert_eq!(installed.iter().filter(|p| **p == "bash").count(), 1);
    }

    #[test]
    fn an_unknown_package_is_refused_with_the_known_ones() {
        let image = GuestImage {
            extra_packages: vec!["frobnicator".into()],
            repository: true,
        };
        let message = image.check().unwrap_err();
        assert!(message.contains("\"frobnicator\"") && message.contains("nmap-ncat, stress-ng"));
    }
}

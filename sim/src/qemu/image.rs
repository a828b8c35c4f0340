//! The real-guest lane's Linux image (a Debian cloud kernel and an initramfs), built from
//! packages by `sim/guest-image/build.sh` and cached under a key of that folder's contents, so
//! a change to the recipe builds a new image and an unchanged one is built once.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The recipe: build.sh, packages.txt and the files of rootfs/.
const RECIPE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/guest-image");

/// A built image: what qemu's `-kernel` and `-initrd` take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootImage {
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
}

impl BootImage {
    /// The image in `dir`, if a build finished there.
    pub fn at(dir: &Path) -> Option<BootImage> {
        let image = BootImage {
            kernel: dir.join("vmlinuz"),
            initramfs: dir.join("initramfs.img"),
        };
        (image.kernel.is_file() && image.initramfs.is_file()).then_some(image)
    }
}

/// Where images are cached: `$VSTP_GUEST_IMAGE_CACHE`, else `$XDG_CACHE_HOME/vstp/guest-image`,
/// else `~/.cache/vstp/guest-image`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("VSTP_GUEST_IMAGE_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("vstp").join("guest-image")
}

/// The cached image of the current recipe, built first if it is not there.
/// `progress` hears what is done (a build takes about half a minute).
pub fn ensure(cache: &Path, progress: &mut dyn FnMut(&str)) -> Result<BootImage, String> {
    let dir = cache.join(recipe_key()?);
    if let Some(image) = BootImage::at(&dir) {
        return Ok(image);
    }
    progress(&format!(
        "building the guest image from Debian packages into {}",
        dir.display()
    ));
    build(&dir)?;
    BootImage::at(&dir).ok_or_else(|| {
        format!(
            "{}/build.sh finished but left no vmlinuz and initramfs.img in {}",
            RECIPE,
            dir.display()
        )
    })
}

fn build(dir: &Path) -> Result<(), String> {
    let script = Path::new(RECIPE).join("build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "building the guest image failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// The first 16 hex digits of a SHA-256 over the recipe's files (paths and contents, in
/// path order).
fn recipe_key() -> Result<String, String> {
    let mut files = Vec::new();
    collect(Path::new(RECIPE), &mut files)
        .map_err(|e| format!("cannot read the guest image recipe in {RECIPE}: {e}"))?;
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        hash.update(
            file.strip_prefix(RECIPE)
                .unwrap_or(&file)
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update(bytes.len().to_le_bytes());
        hash.update(&bytes);
    }
    let digest = hash.finalize();
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipe_key_is_stable_and_names_sixteen_hex_digits() {
        let key = recipe_key().expect("the recipe is readable");
        assert_eq!(key.len(), 16, "{key}");
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
        assert_eq!(recipe_key().unwrap(), key);
    }

    #[test]
    fn a_folder_without_both_files_holds_no_image() {
        let dir = std::env::temp_dir().join(format!("vstp-image-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vmlinuz"), b"k").unwrap();
        assert_eq!(BootImage::at(&dir), None);
        std::fs::write(dir.join("initramfs.img"), b"i").unwrap();
        assert!(BootImage::at(&dir).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

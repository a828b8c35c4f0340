#!/usr/bin/env bash
# Builds the real-guest lane's Linux image: a Debian cloud kernel and an initramfs holding
# the packages of packages.txt, unpacked (never installed) and checked, plus the init of
# rootfs/ (boot, cloud-init, the agent channel, RHEL's hotplug rules).
#
#   build.sh OUT_DIR
#
# Writes OUT_DIR/vmlinuz, OUT_DIR/initramfs.img and OUT_DIR/manifest.txt (the packages and
# versions it used). Needs apt-get (with package lists), dpkg-deb and gzip (the archive is
# written by the image's own busybox cpio); run by
# `vstp sim guest-image`, which caches the result.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$work/debs" "$root"

need() {
    command -v "$1" >/dev/null || {
        echo "build.sh: $1 is missing: install $2 (ci/setup.sh does)" >&2
        exit 1
    }
}
need apt-get apt
need dpkg-deb dpkg
need gzip gzip

# linux-image-cloud-amd64 is a metapackage: the image is the versioned package it depends on.
kernel_package=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kernel_package" ]; then
    echo "build.sh: apt knows no linux-image-cloud-amd64: run apt-get update (ci/setup.sh does)" >&2
    exit 1
fi
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages.txt")
packages+=("$kernel_package")

# The newest version the release's own repositories have (the machine's installed version may
# be in none; backports, which ci/setup.sh adds for qemu, would mix another release's
# libraries in).
pinned=()
for package in "${packages[@]}"; do
    version=$(apt-cache madison "$package" | grep -v -- '-backports' |
        awk -F'|' 'NR == 1 { gsub(/ /, "", $2); print $2 }')
    [ -n "$version" ] || { echo "build.sh: no repository has $package: run apt-get update" >&2; exit 1; }
    pinned+=("$package=$version")
done
(cd "$work/debs" && apt-get download -q "${pinned[@]}" >"$work/download.log" 2>&1) || {
    echo "build.sh: apt-get download failed:" >&2
    grep -E '^(E|W):' "$work/download.log" >&2 || tail -5 "$work/download.log" >&2
    exit 1
}
for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$root"
    dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$work/manifest.txt"
done
sort -o "$work/manifest.txt" "$work/manifest.txt"

# The kernel goes beside the initramfs; of its modules, only the ones init loads stay.
kernel_version=${kernel_package#linux-image-}
cp "$root/boot/vmlinuz-$kernel_version" "$out/vmlinuz.new"
modules=$root/lib/modules/$kernel_version
mkdir -p "$root/lib/vstp-modules"
while read -r module; do
    found=$(find "$modules" -name "$module.ko" -print -quit)
    [ -n "$found" ] || { echo "build.sh: the kernel has no module $module" >&2; exit 1; }
    cp "$found" "$root/lib/vstp-modules/"
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/rootfs/etc/vstp/modules")
rm -rf "$root/boot" "$root/lib/modules" "$root/usr/share/doc" "$root/usr/share/man" \
    "$root/usr/share/locale" "$root/usr/share/info" "$root/usr/lib/x86_64-linux-gnu/gconv"
# Of Python's library, what neither cloud-init's part nor `python3 -m http.server` imports.
for unused in test ensurepip idlelib tkinter turtledemo lib2to3 pydoc_data unittest distutils \
    config-3.11-x86_64-linux-gnu sqlite3 venv multiprocessing asyncio; do
    rm -rf "$root/usr/lib/python3.11/$unused"
done

# busybox provides what no package does (init, mount, insmod, uevent, udhcpc, vi, …), never
# replacing a real tool.
for applet in $("$root/bin/busybox" --list); do
    present=""
    for dir in bin sbin usr/bin usr/sbin; do
        [ -e "$root/$dir/$applet" ] && present=1
    done
    [ -n "$present" ] || ln -s /bin/busybox "$root/bin/$applet"
done
ln -sf bash "$root/bin/sh"
ln -sf python3.11 "$root/usr/bin/python3"

cp -a "$here/rootfs/." "$root/"
# git keeps only the execute bit; sudo and login want these exact modes.
chmod 0440 "$root/etc/sudoers"
chmod 0600 "$root/etc/shadow"
# Runs a program of the image inside it (chroot; a user namespace's when not root).
in_image() {
    if [ "$(id -u)" -eq 0 ]; then
        chroot "$root" "$@"
    else
        unshare --map-root-user chroot "$root" "$@"
    fi
}
mkdir -p "$root/etc/dropbear"
loader=$root/lib64/ld-linux-x86-64.so.2
in_image /usr/bin/dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key >/dev/null 2>&1

# Every dynamic executable and library must find its libraries inside the image: the image's
# own loader lists them inside the image, so a library of the build machine cannot stand in for
# a missing one.
missing=$(find "$root" -type f \( -perm -u+x -o -name '*.so*' \) -print |
    while read -r elf; do
        [ "$(head -c 4 "$elf")" = $'\x7fELF' ] && [ "$elf" != "$(realpath "$loader")" ] && [ "$elf" != "$root/bin/busybox" ] || continue
        in_image /lib64/ld-linux-x86-64.so.2 --list "${elf#"$root"}" 2>&1 </dev/null |
            awk -v elf="${elf#"$root"}" '/not found/ { print elf ": " $1 }
                /error while loading shared libraries/ { sub(/.*libraries: /, ""); print elf ": " $0 }'
    done | sort -u)
if [ -n "$missing" ]; then
    echo "build.sh: libraries missing from packages.txt:" >&2
    echo "$missing" >&2
    exit 1
fi

(cd "$root" && find . | "$root/bin/busybox" cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) >"$out/initramfs.img.new"
mv "$out/vmlinuz.new" "$out/vmlinuz"
mv "$out/initramfs.img.new" "$out/initramfs.img"
cp "$work/manifest.txt" "$out/manifest.txt"
echo "build.sh: $(wc -l <"$out/manifest.txt") packages, kernel $kernel_version," \
    "initramfs $(du -h "$out/initramfs.img" | cut -f1)"

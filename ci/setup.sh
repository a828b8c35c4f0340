#!/usr/bin/env bash
# Installs what the build and the tests need beyond the Rust toolchain, if it is missing.
# Idempotent and quiet when everything is there (then it installs and updates nothing); run by
# .ci/run and the lanes, safe to run by hand. Debian/Ubuntu (apt-get) and RHEL/Fedora/UBI
# (dnf, microdnf, yum) images.
set -euo pipefail

# Each tool, with its package on apt and on rpm systems ("-" when that family has none).
tools=(
    "perl perl perl"                     # builds the vendored OpenSSL of ssh2
    "make make make"
    "cc gcc gcc"
    "kubectl kubernetes-client -"        # sim/tests/kubectl/; on RHEL it comes with openshift-clients
)

manager=""
for candidate in apt-get dnf microdnf yum; do
    if command -v "$candidate" >/dev/null; then
        manager=$candidate
        break
    fi
done

# Whether TOOL is there and usable. OpenSSL's Configure needs perl modules that a minimal
# perl (RHEL's perl-interpreter) lacks; the full perl package has them.
present() {
    command -v "$1" >/dev/null || return 1
    [ "$1" != perl ] || perl -MIPC::Cmd -MFindBin -MFile::Compare -e 1 2>/dev/null
}

missing=()
unpackaged=()
for entry in "${tools[@]}"; do
    read -r tool apt_package rpm_package <<<"$entry"
    present "$tool" && continue
    case "$manager" in
        apt-get) package=$apt_package ;;
        "") package="-" ;;
        *) package=$rpm_package ;;
    esac
    if [ "$package" = "-" ]; then
        unpackaged+=("$tool")
    else
        missing+=("$package")
    fi
done

if ((${#missing[@]})); then
    echo "ci/setup.sh: installing ${missing[*]} with $manager"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    case "$manager" in
        apt-get)
            "${sudo_cmd[@]}" apt-get update -qq
            "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
            ;;
        microdnf) "${sudo_cmd[@]}" microdnf install -y "${missing[@]}" ;;
        *) "${sudo_cmd[@]}" "$manager" install -y -q "${missing[@]}" ;;
    esac
fi
# The real-guest lane (--guests qemu) needs qemu 9.0 or later: before it, a TCG guest's
# stores could skip the migration dirty bitmap and a pre-copy migration corrupted the guest
# (QEMU commit "physmem: Fix migration dirty bitmap coherency with TCG memory access",
# 2024). Debian 12 has 7.2; its backports have 10.0.
qemu_major() {
    local banner
    banner=$(qemu-system-x86_64 --version 2>/dev/null) || return 0
    [[ $banner == "QEMU emulator version "* ]] || return 0
    banner=${banner#QEMU emulator version }
    echo "${banner%%.*}"
}
major=$(qemu_major)
if [ -z "$major" ] || [ "$major" -lt 9 ]; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    case "$manager" in
        apt-get)
            install_from=()
            if grep -q '^VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
                "${sudo_cmd[@]}" /bin/bash -c 'echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/vstp-backports.list'
                install_from=(-t bookworm-backports)
            fi
            echo "ci/setup.sh: installing qemu-system-x86 ${install_from[*]} (the real-guest lane)"
            "${sudo_cmd[@]}" apt-get update -qq
            "${sudo_cmd[@]}" apt-get install -y -qq "${install_from[@]}" qemu-system-x86
            ;;
        "") echo "ci/setup.sh: install qemu-system-x86_64 9.0 or later by hand (the real-guest lane)" >&2 ;;
        *) "${sudo_cmd[@]}" "$manager" install -y -q qemu-kvm ;;
    esac
fi

# The real-guest lane builds its image from Debian packages (sim/guest-image/build.sh): apt
# must know them, which a fresh image's empty package lists do not.
if [ "$manager" = apt-get ] && command -v apt-cache >/dev/null &&
    [ -z "$(apt-cache madison linux-image-cloud-amd64 2>/dev/null)" ]; then
    echo "ci/setup.sh: updating apt's package lists (the guest image's packages)"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
fi
for tool in "${unpackaged[@]}"; do
    echo "ci/setup.sh: $tool is missing and ${manager:-this system} has no package for it; install it by hand (kubectl: openshift-clients or https://dl.k8s.io); only the tests that use it need it" >&2
done

# rustfmt and clippy: through rustup when the toolchain is rustup's; a distribution's Rust
# packages them separately (rust-src, rustfmt, clippy) and they are left to the image.
if command -v rustup >/dev/null; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

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
for tool in "${unpackaged[@]}"; do
    echo "ci/setup.sh: $tool is missing and ${manager:-this system} has no package for it; install it by hand (kubectl: openshift-clients or https://dl.k8s.io); only the tests that use it need it" >&2
done

# rustfmt and clippy: through rustup when the toolchain is rustup's; a distribution's Rust
# packages them separately (rust-src, rustfmt, clippy) and they are left to the image.
if command -v rustup >/dev/null; then
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

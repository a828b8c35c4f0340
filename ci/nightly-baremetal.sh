#!/usr/bin/env bash
# Nightly bare-metal lane (see ci/nightly-bare-metal.md): sweep what an earlier run left,
# check the cluster, run the whole catalogue against it, JUnit to $ARTIFACT_DIR.
# Needs KUBECONFIG and a vstp.toml (or VSTP_CONFIG) describing the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KUBECONFIG:?set KUBECONFIG to the kubeconfig of the cluster}"
: "${ARTIFACT_DIR:?set ARTIFACT_DIR; JUnit and per-scenario artifacts go there}"
bash ci/setup.sh
cargo build --release
vstp=target/release/vstp
"$vstp" cleanup --target cluster --older-than 12h
# Unmet prerequisites only skip the scenarios that need them; an unreachable cluster stops here.
preflight=0
"$vstp" preflight --target cluster | tee "$ARTIFACT_DIR/preflight.txt" || preflight=$?
if [ "$preflight" -eq 2 ]; then
    exit 2
fi
"$vstp" run --target cluster --allow-disruptive

#!/usr/bin/env bash
# PR lane: the tests (which include the whole catalogue on the simulator), then the fault
# matrix, with JUnit and the matrix in $ARTIFACT_DIR when set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
cargo test --workspace
cargo test --test fault_matrix -- --ignored --nocapture
if [ -n "${ARTIFACT_DIR:-}" ]; then
    mkdir -p "$ARTIFACT_DIR"
    cp target/vstp-fault-matrix.md "$ARTIFACT_DIR/" 2>/dev/null || true
fi

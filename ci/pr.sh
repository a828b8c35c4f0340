#!/usr/bin/env bash
# PR lane (see ci/README.md): the tests, which include the whole catalogue on the simulator
# (tests/e2e.rs), the fault matrix (tests/fault_matrix.rs) and the interrupt tests
# (tests/interrupts.rs); JUnit and the matrix go to $ARTIFACT_DIR when it is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
status=0
cargo test --workspace || status=$?
if [ -n "${ARTIFACT_DIR:-}" ]; then
    mkdir -p "$ARTIFACT_DIR"
    cp target/vstp-fault-matrix.md "$ARTIFACT_DIR/" 2>/dev/null || true
    # Artifacts of matrix runs that raised a false alarm or left something behind.
    cp -r target/vstp-fault-matrix "$ARTIFACT_DIR/" 2>/dev/null || true
fi
exit "$status"

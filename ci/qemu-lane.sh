#!/usr/bin/env bash
# The real-guest lane: the whole catalogue on the simulator with every Linux guest a real
# kernel in qemu (`--guests qemu`). Installs what it needs (ci/setup.sh: qemu-system-x86 9.0+),
# builds the guest image (cached), runs the catalogue at VSTP_QEMU_PROCESSES qemu processes at once
# (default 4: one scenario at a time; 8 runs two), and prints its wall time and the machine's
# peak memory use. JUnit and artifacts go to $ARTIFACT_DIR (default target/qemu-lane).
#
#   ci/qemu-lane.sh [vstp run arguments, e.g. IDs]
#
# About 15.5 minutes on 2 cores one scenario at a time, 13.5 at two; on a slower host 20.6
# and 18.4 (2026-12-03, all 31 rows green both ways). Windows rows stay on emulated guests (no image can be had) and the run's report says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
cargo build --release --quiet
vstp=target/release/vstp
"$vstp" sim guest-image
export ARTIFACT_DIR=${ARTIFACT_DIR:-target/qemu-lane}
mkdir -p "$ARTIFACT_DIR"

# Peak memory: the lowest MemAvailable seen while the lane runs, once a second (a
# measurement, not a wait).
available() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }
before=$(available)
lowest_file=$(mktemp)
echo "$before" >"$lowest_file"
(
    lowest=$before
    while sleep 1; do
        now=$(available)
        if [ "$now" -lt "$lowest" ]; then
            lowest=$now
            echo "$lowest" >"$lowest_file"
        fi
    done
) &
sampler=$!
trap 'kill $sampler 2>/dev/null || true; rm -f "$lowest_file"' EXIT

started=$SECONDS
status=0
"$vstp" run --guests qemu "$@" || status=$?
wall=$((SECONDS - started))
peak_mib=$(((before - $(cat "$lowest_file")) / 1024))
echo "qemu lane: exit $status, ${wall} s wall, ${VSTP_QEMU_PROCESSES:-4} qemu processes at most," \
    "peak memory use ${peak_mib} MiB above the ${before} kB available at the start"
exit "$status"

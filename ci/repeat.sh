#!/usr/bin/env bash
# Stability: the whole catalogue N times in a row on the simulator (default 20), each run
# with its own seed (seeds FIRST, FIRST+1, …; FIRST defaults to today's date), one run at a
# time. Prints one line per run and the count of green runs; exits 1 if any run was red, and
# names its seed so `vstp run --sim-seed SEED` repeats its timings.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"
first="${2:-$(date +%Y%m%d)}"
cargo build --release --quiet
out="target/vstp-repeat"
rm -rf "$out" && mkdir -p "$out"
green=0
red=()
for i in $(seq 0 $((runs - 1))); do
    seed=$((first + i))
    start=$(date +%s%N)
    if ARTIFACT_DIR="$out/$seed" target/release/vstp run --sim-seed "$seed" >"$out/$seed.log" 2>&1; then
        green=$((green + 1)); verdict=green
    else
        red+=("$seed"); verdict=RED
    fi
    ms=$((($(date +%s%N) - start) / 1000000))
    printf 'run %2d seed %s: %s in %d.%d s\n' "$((i + 1))" "$seed" "$verdict" "$((ms / 1000))" "$((ms % 1000 / 100))"
done
echo "$green of $runs runs green"
if [ "${#red[@]}" -gt 0 ]; then
    echo "red seeds: ${red[*]} (logs in $out/<seed>.log)"
    exit 1
fi

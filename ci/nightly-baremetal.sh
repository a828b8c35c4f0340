#!/usr/bin/env bash
# Nightly bare-metal lane (see ci/nightly-bare-metal.md): sweep what an earlier run left,
# check the cluster, run the whole catalogue against it, JUnit to $ARTIFACT_DIR.
# Needs KUBECONFIG and a vstp.toml (or VSTP_CONFIG) describing the cluster.
#
# Whatever happens, $ARTIFACT_DIR/junit_vstp_lane.xml says how each step of the lane went
# (setup, build, stale-run cleanup, preflight, run): a step that failed is an error case with
# the tail of its output, so a job that never reached the scenarios is still reported. A
# failed cleanup does not stop the lane; an unreachable cluster (preflight exit 2) or a failed
# build does. The scenarios' own JUnit is $ARTIFACT_DIR/junit_vstp.xml, written by `vstp run`.
#
# VSTP=/path/to/vstp uses that binary and skips setup and build (prebuilt CI images, tests).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${KUBECONFIG:?set KUBECONFIG to the kubeconfig of the cluster}"
: "${ARTIFACT_DIR:?set ARTIFACT_DIR; JUnit and per-scenario artifacts go there}"
mkdir -p "$ARTIFACT_DIR/lane"
lane_junit="$ARTIFACT_DIR/junit_vstp_lane.xml"
cases=()
errors=0

xml_escape() {
    sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' \
        -e 's/[^[:print:]\t]//g'
}

# step NAME COMMAND...: runs the command with its output in $ARTIFACT_DIR/lane/NAME.log (and on
# the console), records a case, and returns the command's exit code.
step() {
    local name=$1 log="$ARTIFACT_DIR/lane/$1.log" code=0 started ended
    shift
    started=$(date +%s)
    "$@" 2>&1 | tee "$log" || code=${PIPESTATUS[0]}
    ended=$(date +%s)
    record "$name" "$code" $((ended - started)) "$log"
    return "$code"
}

# record NAME CODE SECONDS LOG [OK_CODES]: one <testcase>; an exit code outside OK_CODES
# (default "0") is an <error> whose message is the last line of the log.
record() {
    local name=$1 code=$2 seconds=$3 log=$4 ok=${5:-0} out last
    out=$(tail -n 40 "$log" 2>/dev/null | xml_escape)
    if [[ " $ok " == *" $code "* ]]; then
        cases+=("<testcase classname=\"vstp-lane\" name=\"$name\" time=\"$seconds\"><system-out>$out</system-out></testcase>")
    else
        errors=$((errors + 1))
        last=$(grep -v '^[[:space:]]*$' "$log" 2>/dev/null | tail -n 1 | xml_escape)
        cases+=("<testcase classname=\"vstp-lane\" name=\"$name\" time=\"$seconds\"><error message=\"exit $code: $last\" type=\"lane-step\">$out</error></testcase>")
    fi
}

write_junit() {
    {
        echo '<?xml version="1.0" encoding="UTF-8"?>'
        echo "<testsuites><testsuite name=\"vstp-lane\" tests=\"${#cases[@]}\" failures=\"0\" errors=\"$errors\">"
        printf '%s\n' "${cases[@]}"
        echo '</testsuite></testsuites>'
    } >"$lane_junit"
}
trap write_junit EXIT

if [ -n "${VSTP:-}" ]; then
    vstp=$VSTP
else
    step setup bash ci/setup.sh || true
    step build cargo build --release || exit 1
    vstp=target/release/vstp
fi

# A stale run's leftovers are worth a look, but they do not stop tonight's run.
step "stale-run cleanup" "$vstp" cleanup --target cluster --older-than 12h || true

# Unmet prerequisites only skip the scenarios that need them (exit 1); an unreachable cluster
# (exit 2) stops here.
preflight=0
started=$(date +%s)
"$vstp" preflight --target cluster 2>&1 | tee "$ARTIFACT_DIR/preflight.txt" || preflight=${PIPESTATUS[0]}
record preflight "$preflight" $(($(date +%s) - started)) "$ARTIFACT_DIR/preflight.txt" "0 1"
if [ "$preflight" -ne 0 ] && [ "$preflight" -ne 1 ]; then
    exit 2
fi

# Exit 1 is failed scenarios, which junit_vstp.xml reports; anything else is the lane's trouble.
run=0
started=$(date +%s)
"$vstp" run --target cluster --allow-disruptive 2>&1 | tee "$ARTIFACT_DIR/lane/run.log" || run=${PIPESTATUS[0]}
record run "$run" $(($(date +%s) - started)) "$ARTIFACT_DIR/lane/run.log" "0 1"
if [ "$run" -ne 0 ]; then
    exit "$run"
fi
# The scenarios passed; a lane step that failed still makes the job red.
[ "$errors" -eq 0 ] || exit 1

#!/usr/bin/env python3
"""Mutation check of the harness's assertions (issue 22, item 7).

Applies each mutation of ci/mutants.toml, one at a time, to a scratch checkout of HEAD (the
working tree is never edited), builds, and runs, stopping at the first red:

  1. the harness's unit tests (`cargo test -p vstp --lib`);
  2. the fault matrix, only the rows the mutation lists (each row is the whole catalogue under
     one fault, so a false alarm anywhere kills the mutation too);
  3. the tamper test (`tests/tamper.rs`), when the checkout has one.

A mutation nothing turns red survives: kill it with a new test or explain it in the table.
The report goes to target/vstp-mutants.md, each stage's output to target/vstp-mutants/.

  python3 ci/mutants.py                 every mutation
  python3 ci/mutants.py --only a,b      those mutations
  python3 ci/mutants.py --list          the mutations, without running anything
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
LOGS = TARGET / "vstp-mutants"
# The mutants build in their own target directory: cargo names a workspace's artifacts by
# their path inside the workspace, so a second checkout sharing `TARGET` would overwrite the
# user's test binaries with mutated ones.
MUTANT_TARGET = TARGET / "mutants"


def load(only):
    with open(ROOT / "ci" / "mutants.toml", "rb") as f:
        mutants = tomllib.load(f)["mutant"]
    if only:
        names = {m["name"] for m in mutants}
        unknown = sorted(set(only) - names)
        if unknown:
            sys.exit(f"--only names {unknown}, which ci/mutants.toml does not define; "
                     f"--list shows the mutations")
        mutants = [m for m in mutants if m["name"] in only]
    return mutants


def check_applies(tree, mutants):
    """Every mutation's text occurs exactly once, or the list is out of date with the code."""
    stale = []
    for m in mutants:
        count = (tree / m["file"]).read_text().count(m["from"])
        if count != 1:
            stale.append(f"{m['name']}: its text occurs {count} times in {m['file']}")
    if stale:
        sys.exit("ci/mutants.toml no longer matches the code; update these mutations:\n  "
                 + "\n  ".join(stale))


def cargo(tree, args, log, env=None):
    """Runs cargo in `tree` with the shared target directory; True when it succeeded."""
    full_env = dict(os.environ, CARGO_TARGET_DIR=str(MUTANT_TARGET), CARGO_INCREMENTAL="0")
    full_env.update(env or {})
    with open(log, "w") as out:
        done = subprocess.run(["nice", "-n", "10", "cargo", *args], cwd=tree, env=full_env,
                              stdout=out, stderr=subprocess.STDOUT)
    return done.returncode == 0


def stages(tree, m):
    """(stage name, cargo arguments, extra environment), cheapest first."""
    yield "unit tests", ["test", "-p", "vstp", "--lib"], {}
    if m["rows"]:
        rows = ",".join(m["rows"])
        yield (f"fault matrix ({rows})",
               ["test", "-p", "vstp", "--test", "fault_matrix", "every_regression"],
               {"VSTP_MATRIX_FAULTS": rows})
    if (tree / "tests" / "tamper.rs").exists():
        yield "tamper test", ["test", "-p", "vstp", "--test", "tamper"], {}


def build_targets(tree):
    args = ["test", "-p", "vstp", "--no-run", "--lib", "--test", "fault_matrix"]
    if (tree / "tests" / "tamper.rs").exists():
        args += ["--test", "tamper"]
    return args


def seed_target():
    """Starts the mutants' target directory from hard links to the user's debug build, so the
    dependencies are not built again (cargo replaces files, it does not write into them)."""
    ours, theirs = MUTANT_TARGET / "debug", TARGET / "debug"
    if ours.exists() or not theirs.exists():
        return
    MUTANT_TARGET.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(theirs), str(ours)], check=True)
    # cargo's lock is a flock on this file: a shared inode would make the builds wait on each other
    lock = ours / ".cargo-lock"
    lock.unlink(missing_ok=True)
    lock.touch()


def run_one(tree, m):
    """(verdict, stage that killed it or why it could not run, seconds)."""
    path = tree / m["file"]
    original = path.read_text()
    started = time.monotonic()
    path.write_text(original.replace(m["from"], m["to"], 1))
    try:
        log = LOGS / f"{m['name']}-build.log"
        if not cargo(tree, build_targets(tree), log):
            return "did not build", str(log.relative_to(TARGET.parent)), time.monotonic() - started
        for i, (stage, args, env) in enumerate(stages(tree, m)):
            log = LOGS / f"{m['name']}-{i + 1}.log"
            if not cargo(tree, args, log, env):
                return "killed", stage, time.monotonic() - started
        return "SURVIVED", "", time.monotonic() - started
    finally:
        path.write_text(original)


def report(results):
    killed = sum(1 for r in results if r[1] == "killed")
    viable = sum(1 for r in results if r[1] != "did not build")
    lines = [
        f"Mutation score: {killed}/{viable} killed"
        + (f" ({viable and round(100 * killed / viable)}%)" if viable else ""),
        "",
        "| mutation | guards | verdict | red in | seconds |",
        "|---|---|---|---|---|",
    ]
    for m, verdict, by, secs in results:
        lines.append(f"| {m['name']} | {m['why']} | {verdict} | {by} | {secs:.0f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated mutation names")
    parser.add_argument("--list", action="store_true", help="list the mutations and stop")
    opts = parser.parse_args()
    mutants = load(opts.only.split(",") if opts.only else None)
    if opts.list:
        for m in mutants:
            print(f"{m['name']:32} {m['file']:48} rows: {','.join(m['rows']) or '-'}")
        return
    LOGS.mkdir(parents=True, exist_ok=True)
    seed_target()
    tree = TARGET / "mutants-tree"
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                   capture_output=True)
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tree), "HEAD"], cwd=ROOT,
                   check=True)
    results = []
    try:
        check_applies(tree, mutants)
        for m in mutants:
            print(f"mutant {m['name']} ({m['file']}) ...", flush=True)
            verdict, by, secs = run_one(tree, m)
            print(f"  {verdict} {by} ({secs:.0f} s)", flush=True)
            results.append((m, verdict, by, secs))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                       capture_output=True)
    text = report(results)
    (TARGET / "vstp-mutants.md").write_text(text)
    print(text)
    sys.exit(1 if any(r[1] == "SURVIVED" for r in results) else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Run the differential test program twice and compare the outputs.

usage: compare.py SYSTEM-BINARY|--missing=REASON FASTNBD-BINARY

SYSTEM-BINARY is tests/diff/observe.c built against the installed libnbd,
FASTNBD-BINARY the same source built against fastnbd.  Every output line
must be identical, except:

  - lines starting with '#' describe the build and are checked for
    plausibility instead: the two programs must have loaded two different
    libraries, the system one not being fastnbd, and nbdkit must have been
    there for the connected part;
  - a line announced by "@known ID" may differ: ID names an entry of KNOWN
    below, which says why.  Such a line that no longer differs fails the
    test, so that the entry gets removed.

Exit status: 0 same, 1 different, 77 skipped (no system libnbd to compare
with).
"""

import difflib
import os
import subprocess
import sys

# Differences between libnbd 1.14 and fastnbd that are known and reported.
# Each entry: why the outputs differ, and whose move it is.
KNOWN = {
}


def run(binary, env):
    proc = subprocess.run([binary], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=300,
                          check=False)
    out = proc.stdout.decode("utf-8", "replace").splitlines()
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
        print("%s exited with status %d after %d lines of output; the last:"
              % (binary, proc.returncode, len(out)))
        print("\n".join(out[-5:]))
        sys.exit(1)
    facts = {}
    lines = []
    for line in out:
        if line.startswith("#"):
            key, _, value = line[1:].strip().partition(" ")
            facts[key] = value
        else:
            lines.append(line)
    return facts, lines


def check_facts(sys_facts, our_facts):
    problems = []
    if sys_facts.get("header-version-extra") != "0":
        problems.append("the system build did not use the system libnbd.h")
    if our_facts.get("header-version-extra") != "1":
        problems.append("the fastnbd build did not use fastnbd's libnbd.h")
    sys_lib = os.path.realpath(sys_facts.get("library", "?"))
    our_lib = os.path.realpath(our_facts.get("library", "?"))
    if sys_lib == our_lib:
        problems.append("both programs loaded the same library %s" % sys_lib)
    if sys_facts.get("version") == our_facts.get("version"):
        problems.append("both libraries report version %s"
                        % sys_facts.get("version"))
    if our_facts.get("nbdkit") != "yes":
        problems.append("nbdkit is not installed, so nothing was compared "
                        "while connected (./run-tests installs it)")
    print("system libnbd %s from %s" % (sys_facts.get("version"), sys_lib))
    print("fastnbd (libnbd API %s) from %s" % (our_facts.get("version"),
                                               our_lib))
    return problems


def compare(sys_lines, our_lines):
    """Problems found, and the known differences seen."""
    problems, seen = [], []
    if len(sys_lines) != len(our_lines):
        problems.append("the outputs have different lengths (%d and %d lines)"
                        % (len(sys_lines), len(our_lines)))
    known = None
    differing = []
    for i, (a, b) in enumerate(zip(sys_lines, our_lines)):
        if a.startswith("@known ") and a == b:
            known = a.split(" ", 1)[1]
            if known not in KNOWN:
                problems.append("line %d: unknown known-difference id %s"
                                % (i + 1, known))
            continue
        if known is not None:
            if a == b:
                problems.append("known difference %s no longer differs (%s): "
                                "remove it from observe.c and compare.py"
                                % (known, a))
            else:
                seen.append((known, a, b))
            known = None
        elif a != b:
            differing.append(i)
    if differing or len(sys_lines) != len(our_lines):
        problems.append("outputs differ (- system libnbd, + fastnbd):")
        problems.extend(difflib.unified_diff(sys_lines, our_lines,
                                             "system", "fastnbd",
                                             lineterm="", n=2))
    return problems, seen


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    system, ours = sys.argv[1], sys.argv[2]
    if system.startswith("--missing="):
        print("SKIP: no system libnbd to compare with (%s); install "
              "libnbd-dev to run this test" % system[len("--missing="):])
        return 77

    # The system binary must find the system library, whatever the
    # caller's environment says.
    env = dict(os.environ)
    for var in ("LD_LIBRARY_PATH", "LD_PRELOAD", "LIBNBD_DEBUG"):
        env.pop(var, None)
    sys_facts, sys_lines = run(system, env)
    our_facts, our_lines = run(ours, env)

    problems = check_facts(sys_facts, our_facts)
    more, seen = compare(sys_lines, our_lines)
    problems.extend(more)

    for known, a, b in seen:
        print("known difference %s:\n  libnbd:  %s\n  fastnbd: %s\n  (%s)"
              % (known, a, b, KNOWN[known]))
    if problems:
        print("\n".join(problems))
        return 1
    print("%d observations compared: identical but for %d known differences"
          % (len(our_lines), len(seen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

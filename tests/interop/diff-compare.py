#!/usr/bin/env python3
"""Run diff-opt built against the system libnbd and against fastnbd, and
compare what they print.

usage: diff-compare.py SYSTEM-BINARY|--missing=REASON FASTNBD-BINARY

Lines starting with '#' are facts about each build and are checked, not
compared: the system build must have loaded the system library (not
fastnbd's), must report a 1.14 version, and the two builds must have
loaded different files.  Every other line must be identical.  Exit 0
same, 1 different, 77 skipped.
"""

import difflib
import os
import subprocess
import sys


def run(binary):
    env = dict(os.environ)
    # The system build must resolve libnbd.so.0 the ordinary way.
    for var in ("LD_LIBRARY_PATH", "LD_PRELOAD", "LIBNBD_DEBUG"):
        env.pop(var, None)
    proc = subprocess.run([binary], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=50,
                          check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
        sys.exit("%s exited with status %d" % (binary, proc.returncode))
    facts, lines = {}, []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].strip().partition(" ")
            facts[key] = value
        else:
            lines.append(line)
    return facts, lines


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    if sys.argv[1].startswith("--missing="):
        print("SKIP: %s" % sys.argv[1][len("--missing="):])
        return 77
    sys_facts, sys_lines = run(sys.argv[1])
    our_facts, our_lines = run(sys.argv[2])
    sys_lib = os.path.realpath(sys_facts.get("library", "?"))
    our_lib = os.path.realpath(our_facts.get("library", "?"))
    print("system: libnbd %s from %s" % (sys_facts.get("version"), sys_lib))
    print("ours:   libnbd API %s from %s" % (our_facts.get("version"), our_lib))

    problems = []
    if sys_facts.get("system-build") != "1" or our_facts.get("system-build") != "0":
        problems.append("the binaries were given in the wrong order")
    if sys_facts.get("header-has-version-extra") != "0":
        problems.append("the system build did not use the system libnbd.h")
    if our_facts.get("header-has-version-extra") != "1":
        problems.append("the fastnbd build did not use fastnbd's libnbd.h")
    if sys_lib == our_lib:
        problems.append("both builds loaded %s" % sys_lib)
    if not sys_lib.startswith("/usr/lib"):
        problems.append("the system build loaded %s, not the system library"
                        % sys_lib)
    if not (sys_facts.get("version") or "").startswith("1.14."):
        problems.append("the system library is %s, not 1.14"
                        % sys_facts.get("version"))

    print("%d observations (system), %d (fastnbd)" % (len(sys_lines),
                                                       len(our_lines)))
    if sys_lines != our_lines:
        problems.append("observations differ (- system libnbd, + fastnbd):")
        problems.extend(difflib.unified_diff(sys_lines, our_lines, "system",
                                             "fastnbd", lineterm="", n=1))
    if problems:
        print("\n".join(problems))
        return 1
    print("all observations identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Compare the generated libnbd.h with a real libnbd's installed header.

usage: check-system-header.py OUR-HEADER SYSTEM-HEADER

Every declaration the system header (Debian's libnbd 1.14) makes must be
in ours with the same C text, up to whitespace: each typedef struct (the
callback structs and their member order are ABI, since they are passed
by value), each function prototype, and each LIBNBD_* constant.  The
function attributes are left out of the comparison, and so are the
*_MASK constants: later libnbd versions add flags, so both change
between 1.14 and 1.24.  Declarations only ours has (the 1.16..1.24
calls, nbd_extent, nbd_extent64_callback) are not checked here.

Exit status 77 (skipped) when the system header is missing or is this
project's own.
"""

import os
import re
import sys


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def squeeze(text):
    """Whitespace-insensitive C text: runs of blanks become one space,
    and none is left next to punctuation."""
    text = " ".join(text.split())
    return re.sub(r"\s*([(){};,*\[\]])\s*", r"\1", text)


def declarations(path):
    with open(path) as f:
        text = strip_comments(f.read())
    structs = {m.group(2): squeeze(m.group(1)) for m in re.finditer(
        r"typedef struct\s*(\{.*?\})\s*(\w+)\s*;", text, re.S)}
    # A prototype runs from "extern" to its closing parenthesis; the
    # attributes after it (LIBNBD_ATTRIBUTE_*) are left out.
    protos = {m.group(2): squeeze(m.group(1)) for m in re.finditer(
        r"^extern\s+([^;]*?\b(nbd_\w+)\s*\([^)]*\))", text, re.M | re.S)}
    constants = {m.group(1): squeeze(m.group(2)) for m in re.finditer(
        r"^#define\s+(LIBNBD_\w+)[ \t]+([^\n\\]+)$", text, re.M)
        if not m.group(1).startswith(("LIBNBD_ATTRIBUTE_", "LIBNBD_GCC_",
                                      "LIBNBD_HAVE_"))
        and not m.group(1).endswith("_MASK")}
    have = set(re.findall(r"^#define\s+(LIBNBD_HAVE_\w+)\s+1\s*$", text, re.M))
    return {"typedef": structs, "prototype": protos, "constant": constants,
            "LIBNBD_HAVE macro": {n: "1" for n in have}}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ours_path, system_path = sys.argv[1:]
    if not os.path.exists(system_path):
        print("SKIP: %s not found" % system_path)
        return 77
    with open(system_path) as f:
        if "fastnbd" in f.read():
            print("SKIP: %s is this project's own header" % system_path)
            return 77
    ours, system = declarations(ours_path), declarations(system_path)
    problems = 0
    for kind, theirs in system.items():
        if not theirs:
            print("FAIL: no %s found in %s" % (kind, system_path))
            problems += 1
        for name, text in sorted(theirs.items()):
            mine = ours[kind].get(name)
            if mine is None:
                print("FAIL: %s %s is missing" % (kind, name))
                problems += 1
            elif mine != text:
                print("FAIL: %s %s differs\n  ours:   %s\n  system: %s"
                      % (kind, name, mine, text))
                problems += 1
        print("%d %s(s) of %s compared" % (len(theirs), kind, system_path))
    if problems:
        print("%d problem(s)" % problems)
        return 1
    print("the generated header declares all of them as the system header does")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Check the ABI of the built libnbd.so.0 against the API table.

usage: check-abi.py LIBRARY API-SYMBOLS-TXT HEADER [REFERENCE-TSV]

  LIBRARY          the built shared library (libnbd.so.0...)
  API-SYMBOLS-TXT  the generator's list, lines "nbd_name@LIBNBD_x.y"
  HEADER           the generated libnbd.h
  REFERENCE-TSV    libnbd-api.tsv (name, first_version, version_node,
                   prototype) describing real libnbd; when the file does
                   not exist that part is skipped, saying so.

Checks, with objdump from binutils:
  - SONAME is libnbd.so.0;
  - the exported nbd_* functions with their version nodes are exactly the
    lines of API-SYMBOLS-TXT, all default versions (name@@node);
  - nothing else is exported but the version nodes' own symbols;
  - the version definitions are exactly LIBNBD_1.0 <- 1.2 <- ... <- 1.24,
    each naming its predecessor as parent;
  - the header declares exactly those functions, each with its
    LIBNBD_HAVE_NBD_* macro;
  - against the reference: every symbol exists in libnbd with the same
    node, and the header's prototype matches libnbd's.
"""

import os
import re
import subprocess
import sys

CHAIN = ["LIBNBD_1.0", "LIBNBD_1.2", "LIBNBD_1.4", "LIBNBD_1.6", "LIBNBD_1.8",
         "LIBNBD_1.12", "LIBNBD_1.16", "LIBNBD_1.18", "LIBNBD_1.22",
         "LIBNBD_1.24"]

errors = []


def fail(msg):
    errors.append(msg)
    print("FAIL: " + msg)


def objdump(*args):
    return subprocess.run(["objdump"] + list(args), check=True,
                          stdout=subprocess.PIPE,
                          universal_newlines=True).stdout


def dynamic_symbols(lib):
    """Defined dynamic symbols: list of (name, version, section)."""
    out = []
    for line in objdump("-T", lib).splitlines():
        m = re.match(r"^[0-9a-f]{8,16} (.{7}) (\S+)\s+[0-9a-f]+\s+(.*)$", line)
        if not m:
            continue
        section, rest = m.group(2), m.group(3).split()
        if section == "*UND*":
            continue
        if len(rest) == 2:
            version, name = rest
        elif len(rest) == 1:
            version, name = "", rest[0]
        else:
            fail("cannot parse objdump line: %s" % line)
            continue
        out.append((name, version, section))
    return out


def check_library(lib, expected):
    private = objdump("-p", lib)
    m = re.search(r"^\s*SONAME\s+(\S+)", private, re.M)
    if not m or m.group(1) != "libnbd.so.0":
        fail("SONAME is %s, expected libnbd.so.0" % (m.group(1) if m else "missing"))

    exported = set()
    for name, version, section in dynamic_symbols(lib):
        if version.startswith("("):
            fail("%s is a hidden (non-default) version %s" % (name, version))
            version = version.strip("()")
        if name.startswith("nbd_"):
            exported.add("%s@%s" % (name, version))
        elif section == "*ABS*" and name == version and name in CHAIN:
            pass                # the symbol GNU ld makes for each node
        else:
            fail("unexpected export: %s %s (%s)" % (name, version, section))
    for s in sorted(expected - exported):
        fail("missing export: %s" % s)
    for s in sorted(exported - expected):
        fail("extra export (not in api-symbols.txt): %s" % s)
    print("%d nbd_* exports checked" % len(exported))

    # Version definitions: "idx flags hash name", parents indented below.
    section = private.split("Version definitions:", 1)
    if len(section) != 2:
        fail("no version definitions")
        return
    defs = []
    for line in section[1].splitlines()[1:]:
        if not line.strip() or line.startswith("Version References"):
            break
        if line[0].isspace():
            if defs:
                defs[-1][2].extend(line.split())
            continue
        idx, flags, _hash, name = line.split()[:4]
        defs.append((name, int(flags, 16), []))
    if not defs or not defs[0][1] & 1 or defs[0][0] != "libnbd.so.0":
        fail("first version definition is not the base libnbd.so.0: %s"
             % (defs[0] if defs else None))
    nodes = defs[1:]
    got = [(n, p) for n, _, p in nodes]
    want = [(n, [CHAIN[i - 1]] if i else []) for i, n in enumerate(CHAIN)]
    if got != want:
        fail("version nodes (name, parents) are\n  %s\nexpected\n  %s"
             % (got, want))
    else:
        print("version nodes: %s" % " <- ".join(CHAIN))


def header_prototypes(header):
    """name -> normalised prototype, as declared in libnbd.h."""
    with open(header) as f:
        text = f.read()
    protos = {}
    for m in re.finditer(r"^extern\s+([^;]*?\b(nbd_\w+)\s*\([^)]*\))", text,
                         re.M | re.S):
        protos[m.group(2)] = normalise(m.group(1))
    have = set(re.findall(r"^#define LIBNBD_HAVE_(NBD_\w+) 1$", text, re.M))
    return protos, have


def normalise(proto):
    proto = " ".join(proto.replace(";", " ").split())
    proto = re.sub(r"\(\s+", "(", proto)
    proto = re.sub(r"\s+\)", ")", proto)
    proto = re.sub(r"\*\s+", "*", proto)
    return proto.strip()


def check_header(header, names):
    protos, have = header_prototypes(header)
    for n in sorted(names - set(protos)):
        fail("not declared in libnbd.h: %s" % n)
    for n in sorted(set(protos) - names):
        fail("declared in libnbd.h but not exported: %s" % n)
    for n in sorted(names):
        if n.upper() not in have:
            fail("no LIBNBD_HAVE_%s in libnbd.h" % n.upper())
    print("%d declarations in libnbd.h checked" % len(protos))
    return protos


def check_reference(tsv, symbols, protos):
    if not os.path.exists(tsv):
        print("SKIPPED reference cross-check: %s not found (it lives outside "
              "the repository and is optional)" % tsv)
        return
    ref = {}
    with open(tsv) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            ref[row["name"]] = row
    for sym in sorted(symbols):
        name, node = sym.split("@")
        row = ref.get(name)
        if row is None:
            fail("%s does not exist in libnbd" % name)
            continue
        if row["version_node"] != node:
            fail("%s has node %s, libnbd uses %s"
                 % (name, node, row["version_node"]))
        want = normalise(row["prototype"])
        if name in protos and protos[name] != want:
            fail("prototype of %s differs from libnbd's:\n  ours:   %s\n"
                 "  libnbd: %s" % (name, protos[name], want))
    print("%d symbols checked against %s (%d calls in libnbd)"
          % (len(symbols), tsv, len(ref)))


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    lib, symbols_file, header = sys.argv[1:4]
    tsv = sys.argv[4] if len(sys.argv) == 5 else ""
    with open(symbols_file) as f:
        symbols = {line.strip() for line in f if line.strip()}
    names = {s.split("@")[0] for s in symbols}

    check_library(lib, symbols)
    protos = check_header(header, names)
    if tsv:
        check_reference(tsv, symbols, protos)
    if errors:
        print("%d problem(s)" % len(errors))
        return 1
    print("ABI OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

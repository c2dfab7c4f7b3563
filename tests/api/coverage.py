#!/usr/bin/env python3
"""Every public call is exercised by the API tests.

usage: coverage.py SOURCE-ROOT API-SYMBOLS-TXT TEST-SOURCE...

Checks that
  - each nbd_* symbol of api-symbols.txt (the table's truth) is called in
    at least one of the test sources;
  - each call of spec/api.py limited to some handle states, or refused
    inside callbacks (reentrant=False), has a row in tests/api/calls.h
    with the same states and reentrancy, so that both rules are tested
    (states.c, wrong-state.c); and no row names a call the table lacks.
When a call is added to spec/api.py, this test fails until tests exist.
"""

import os
import re
import sys


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    root, symbols_file, sources = sys.argv[1], sys.argv[2], sys.argv[3:]

    with open(symbols_file) as f:
        names = sorted({line.split("@")[0] for line in f if line.strip()})
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from callers import callers, read_sources  # noqa: E402
    text = {os.path.basename(p): t for p, t in read_sources(sources).items()}
    found = callers(names, text)
    missing = [n for n in names if not found[n]]
    for n in missing:
        print("not called by any API test: %s" % n)

    sys.path[:0] = [os.path.join(root, "gen"), os.path.join(root, "spec")]
    import api  # noqa: E402  (spec/api.py)
    calls = {c.name: c for c in api.CALLS}
    abbrev = {"C_": ["created"], "CN": ["created", "negotiating"],
              "N_": ["negotiating"],
              "NCC": ["negotiating", "connected", "closed"],
              "NC": ["negotiating", "connected"], "CO": ["connected"],
              "CCD": ["connected", "closed", "dead"],
              "AC": ["connecting", "negotiating", "connected", "closed", "dead"],
              "ANY": None}
    rows = {}
    for m in re.finditer(r"^\s*X \((\w+), [ISC], (\w+), (RE|NO), \d",
                         text.get("calls.h", ""), re.M):
        rows[m.group(1)] = (abbrev.get(m.group(2), "?"), m.group(3) == "RE")
    no_row = []
    for c in api.CALLS:
        if c.states is None and c.reentrant:
            continue
        row = rows.get(c.name)
        if row is None:
            no_row.append("no row in tests/api/calls.h: nbd_%s" % c.name)
        elif row[0] != c.states or row[1] != c.reentrant:
            no_row.append("row of nbd_%s in calls.h says %s, %s; spec/api.py "
                          "says %s, %s" % (c.name, row[0], row[1], c.states,
                                           c.reentrant))
    for name in sorted(set(rows) - set(calls)):
        no_row.append("row in calls.h for a call not in spec/api.py: %s" % name)
    for n in no_row:
        print(n)

    if missing or no_row:
        return 1
    print("%d calls, all exercised; %d rows in calls.h match spec/api.py"
          % (len(names), len(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

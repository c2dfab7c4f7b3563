"""Which test sources call which public functions.

A call counts when its name is followed by "(" or "," (a call, or a
function pointer in an argument list), also when the name is pasted
together by a macro: a `#define M(x)` whose body says nbd_get_##x makes
every `M (foo)` a call of nbd_get_foo.  The rows of tests/api/calls.h
(X (name, ...)) are calls of the programs that include calls.h, which
invoke every row.
"""

import os
import re

SOURCE_ENDINGS = (".c", ".h", ".cpp", ".py", ".sh")


def read_sources(paths):
    text = {}
    for path in paths:
        with open(path, errors="replace") as f:
            text[path] = f.read()
    return text


def pasted_names(text):
    """Names built by token pasting in text's own macros."""
    names = []
    for m in re.finditer(r"^#define (\w+)\s*\((\w+)\)((?:.*\\\n)*.*)$",
                         text, re.M):
        macro, param, body = m.groups()
        prefixes = re.findall(r"\b(nbd_\w*)##%s\b" % param, body)
        if not prefixes:
            continue
        for arg in re.findall(r"\b%s\s*\((\w+)\)" % macro, text):
            names += [p + arg for p in prefixes]
    return names


def calls_h_rows(text):
    return ["nbd_" + n for n in re.findall(r"^\s*X \((\w+),", text, re.M)]


def callers(names, text):
    """{name: sorted paths of the sources in text that call it}."""
    found = {n: set() for n in names}
    rows = []
    for path, t in text.items():
        if os.path.basename(path) == "calls.h":
            rows = calls_h_rows(t)
    for path, t in text.items():
        called = set(re.findall(r"\b(nbd_\w+)\s*[(,]", t))
        called.update(pasted_names(t))
        if re.search(r'#include "calls\.h"', t):
            called.update(rows)
        for n in called:
            if n in found:
                found[n].add(path)
    return {n: sorted(p) for n, p in found.items()}


def test_sources(tests_dir):
    """Every source file under tests_dir."""
    out = []
    for d, _, files in os.walk(tests_dir):
        out += [os.path.join(d, f) for f in files if f.endswith(SOURCE_ENDINGS)]
    return sorted(out)

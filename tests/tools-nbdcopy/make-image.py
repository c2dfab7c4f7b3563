#!/usr/bin/env python3
"""Writes the test disk image: data, holes and explicit zero runs in every
order, with boundaries off the request and block sizes, ending in a hole.
Usage: make-image.py FILE [SEED]"""
import os
import random
import sys

path = sys.argv[1]
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
M = 1024 * 1024
size = 5 * M + 12345
# (offset, length, kind): kind is "data", "zero" (written zeroes) or a hole
# (never written).
layout = [
    (0, M, "data"),
    (2 * M, M // 2, "zero"),
    (2 * M + M // 2, 4097, "data"),
    (3 * M + 100, 3000, "data"),
    (4 * M, M, "data"),
    (4 * M + 8192, 8192, "zero"),   # zeroes inside data: found by -S
]
with open(path, "wb") as f:
    f.truncate(0)
    for offset, length, kind in layout:
        f.seek(offset)
        f.write(rng.randbytes(length) if kind == "data" else bytes(length))
    f.truncate(size)

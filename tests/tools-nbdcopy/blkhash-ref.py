#!/usr/bin/env python3
"""Reference blkhash of a file, written from the algorithm's published
description and kept deliberately simple (no zero shortcut, no threads):

    H( H(block 0) || ... || H(block N-1) || le64(size) )

Usage: blkhash-ref.py DIGEST BLOCK-SIZE FILE
"""
import hashlib
import struct
import sys

digest, block_size, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
outer = hashlib.new(digest)
size = 0
with open(path, "rb") as f:
    while True:
        block = f.read(block_size)
        if not block:
            break
        size += len(block)
        outer.update(hashlib.new(digest, block).digest())
outer.update(struct.pack("<Q", size))
print(outer.hexdigest())

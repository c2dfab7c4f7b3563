"""One timed run of the Python benchmark: 4 KiB reads through whichever
`nbd` module this interpreter imports (bench/python-bench chooses it by
PYTHONPATH), over a Unix socket.

    python-bench-client.py aio|sync SOCKET SECONDS [DEPTH]

aio: a closed loop of nbd.aio_pread into DEPTH reusable nbd.Buffers, each
with a completion callback that frees its slot and retires the command,
driven by nbd.poll.  sync: nbd.pread in a loop.  Offsets are sequential
and wrap within the export.  Prints one line:
`ops= secs= ops_per_s= module=`.
"""

import sys
import time

import nbd

REQUEST = 4096


def run_aio(h, size, seconds, depth):
    buffers = [nbd.Buffer(REQUEST) for _ in range(depth)]
    free = list(range(depth))
    done = [0]

    def completion_for(slot):
        def completion(err):
            free.append(slot)
            done[0] += 1
            return 1
        return completion

    completions = [completion_for(i) for i in range(depth)]
    offset = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        while free:
            slot = free.pop()
            h.aio_pread(buffers[slot], offset, completion=completions[slot])
            offset = (offset + REQUEST) % size
        h.poll(-1)
    while h.aio_in_flight() > 0:
        h.poll(-1)
    return done[0]


def run_sync(h, size, seconds):
    ops = 0
    offset = 0
    deadline = time.monotonic() + seconds
    # Check the clock every 64 reads, as the aio loop does once per poll.
    while time.monotonic() < deadline:
        for _ in range(64):
            h.pread(REQUEST, offset)
            offset = (offset + REQUEST) % size
        ops += 64
    return ops


def main():
    mode, sock, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    depth = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    h = nbd.NBD()
    h.connect_unix(sock)
    size = h.get_size()
    start = time.monotonic()
    if mode == "aio":
        ops = run_aio(h, size, seconds, depth)
    elif mode == "sync":
        ops = run_sync(h, size, seconds)
    else:
        sys.exit("unknown mode %r" % mode)
    secs = time.monotonic() - start
    h.shutdown()
    print("ops=%d secs=%.3f ops_per_s=%.0f module=%s" % (
        ops, secs, ops / secs, nbd.__file__))


main()

"""The measuring side of the Python benchmark: 4 KiB reads through
whichever `nbd` module this interpreter imports (bench/python-bench
chooses it by PYTHONPATH), over one connection to a Unix socket.

    python-bench-client.py SOCKET [DEPTH]

It connects, prints `ready module=PATH`, then runs one timed slice per
line read from stdin (`aio SECONDS` or `sync SECONDS`) and answers each
with `ops= secs= cpu=` (cpu: this process's user + system seconds in the
slice).  End of input ends it.  The connection stays open across slices,
so the harness can interleave many short slices of both sides.

aio: a closed loop of nbd.aio_pread into DEPTH reusable nbd.Buffers, each
with a completion callback that frees its slot and retires the command,
driven by nbd.poll.  sync: nbd.pread in a loop.  Offsets are sequential
and wrap within the export.
"""

import sys
import time

import nbd

REQUEST = 4096


class Reader:
    def __init__(self, h, depth):
        self.h = h
        self.size = h.get_size()
        self.offset = 0
        self.buffers = [nbd.Buffer(REQUEST) for _ in range(depth)]
        self.free = list(range(depth))
        self.done = 0
        self.completions = [self.completion_for(i) for i in range(depth)]

    def completion_for(self, slot):
        def completion(err):
            self.free.append(slot)
            self.done += 1
            return 1
        return completion

    def aio(self, seconds):
        h, free, buffers, completions = self.h, self.free, self.buffers, self.completions
        offset, size = self.offset, self.size
        self.done = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            while free:
                slot = free.pop()
                h.aio_pread(buffers[slot], offset, completion=completions[slot])
                offset = (offset + REQUEST) % size
            h.poll(-1)
        while h.aio_in_flight() > 0:
            h.poll(-1)
        self.offset = offset
        return self.done

    def sync(self, seconds):
        h, offset, size = self.h, self.offset, self.size
        ops = 0
        deadline = time.monotonic() + seconds
        # Check the clock every 64 reads, as the aio loop does once per poll.
        while time.monotonic() < deadline:
            for _ in range(64):
                h.pread(REQUEST, offset)
                offset = (offset + REQUEST) % size
            ops += 64
        self.offset = offset
        return ops


def main():
    sock = sys.argv[1]
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    h = nbd.NBD()
    h.connect_unix(sock)
    reader = Reader(h, depth)
    print("ready module=%s" % nbd.__file__, flush=True)
    for line in sys.stdin:
        mode, seconds = line.split()
        run = {"aio": reader.aio, "sync": reader.sync}[mode]
        cpu, start = time.process_time(), time.monotonic()
        ops = run(float(seconds))
        secs, cpu = time.monotonic() - start, time.process_time() - cpu
        print("ops=%d secs=%.6f cpu=%.6f" % (ops, secs, cpu), flush=True)
    h.shutdown()


main()

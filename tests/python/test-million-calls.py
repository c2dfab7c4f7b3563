# A million calls leave the process's resident set size where it was:
# after a warm-up, 100,000 rounds of ten calls (strings in and out, a
# failing call raising nbd.Error, a meta context lookup, an aio read into
# a Buffer with its completion callback and poll, settings read back)
# may not grow the RSS by more than a leak of one byte per call would.
# One read a round goes to the server, so the run takes seconds, not
# minutes.
# test-leaks.py counts bytes exactly over fewer calls; this is the
# measurement at scale, as the operating system sees it.
import os

import nbd
from nbdtest import Nbdkit

PAGE = os.sysconf("SC_PAGE_SIZE")
ROUNDS = 100_000
CALLS_PER_ROUND = 10


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def completion(err):
    return 1


def one_round(h, idle, buf):
    idle.set_export_name("export")
    idle.get_export_name()
    try:
        idle.pread(1, 0)
    except nbd.Error:
        pass
    idle.get_meta_context(0)
    h.get_size()
    h.aio_pread(buf, 0, completion=completion)
    while h.aio_in_flight() > 0:
        h.poll(-1)
    h.aio_in_flight()
    h.get_block_size(nbd.SIZE_MAXIMUM)
    h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION)


with Nbdkit(["memory", "1M"]) as srv:
    h = nbd.NBD()
    h.connect_uri(srv.uri)
    idle = nbd.NBD()
    idle.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    buf = nbd.Buffer(512)
    for _ in range(ROUNDS // 10):
        one_round(h, idle, buf)
    before = rss_bytes()
    for _ in range(ROUNDS):
        one_round(h, idle, buf)
    growth = rss_bytes() - before
    calls = ROUNDS * CALLS_PER_ROUND
    print("RSS %+d bytes after %d calls (%d KiB before)" % (growth, calls, before // 1024))
    assert growth < calls, growth
    h.close()
    idle.close()
print("ok")

# No call leaks: after a warm-up, thousands more iterations of every kind
# of call (data, callbacks, aio with buffers, errors, handles) leave
# Python's traced memory and the C heap (glibc's mallinfo2) where they
# were, and the objects passed in keep their reference counts.
import ctypes
import sys
import tracemalloc

import nbd
from nbdtest import Nbdkit


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ["arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                 "fsmblks", "uordblks", "fordblks", "keepcost"]]


libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2


def c_heap_in_use():
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


def extent(metacontext, offset, entries, err):
    return 0


def completion(err):
    return 1


def one_round(h, buf, payload):
    h.pwrite(payload, 0)
    assert len(h.pread(4096, 0)) == 4096
    h.block_status(1 << 20, 0, extent)
    h.block_status_64(1 << 20, 0, extent)
    h.pread_structured(4096, 0, lambda *a: 0)
    h.aio_pread(buf, 0, completion)
    cookie = h.aio_pwrite(buf, 8192)
    while h.aio_in_flight() > 0:
        h.poll(-1)
    assert h.aio_command_completed(cookie)
    try:
        h.pread(1, 1 << 30)
    except nbd.Error:
        pass
    h.get_export_name()
    h.get_meta_context(0)
    with nbd.NBD() as other:
        other.set_debug_callback(lambda c, m: None)
        other.add_meta_context("base:allocation")


with Nbdkit(["memory", "1M"]) as srv:
    h = nbd.NBD()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_uri(srv.uri)
    buf = nbd.Buffer(4096)
    payload = b"\x07" * 4096
    refs = [sys.getrefcount(x) for x in (extent, completion, buf, payload)]

    for _ in range(300):
        one_round(h, buf, payload)
    tracemalloc.start()
    py_before = tracemalloc.get_traced_memory()[0]
    c_before = c_heap_in_use()
    rounds = 3000
    for _ in range(rounds):
        one_round(h, buf, payload)
    py_growth = tracemalloc.get_traced_memory()[0] - py_before
    c_growth = c_heap_in_use() - c_before
    tracemalloc.stop()
    print("after %d rounds: Python heap %+d bytes, C heap %+d bytes"
          % (rounds, py_growth, c_growth))
    # One leaked object or closure per round would be well above these.
    assert py_growth < 16 * rounds, py_growth
    assert c_growth < 16 * rounds, c_growth
    assert [sys.getrefcount(x) for x in (extent, completion, buf, payload)] == refs
    h.close()
print("ok")

# Block status, 32-bit (flat list of length, flags) and 64-bit (list of
# (length, flags) tuples), sync and aio, and extent callbacks that fail.
import errno

import nbd
from nbdtest import Nbdkit, expect_error

SIZE = 1 << 20

with Nbdkit(["memory", str(SIZE)]) as srv:
    h = nbd.NBD()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    assert h.get_nr_meta_contexts() == 1
    assert h.get_meta_context(0) == "base:allocation"
    h.connect_uri(srv.uri)
    assert h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION) is True
    h.pwrite(b"\x01" * 65536, 0)

    got = {}

    def extent(metacontext, offset, entries, err):
        assert err.value == 0
        got["ctx"], got["offset"], got["entries"] = metacontext, offset, entries

    h.block_status(SIZE, 0, extent)
    assert got["ctx"] == "base:allocation" and got["offset"] == 0
    e = got["entries"]
    assert all(type(x) is int for x in e) and len(e) % 2 == 0
    assert e[0:2] == [65536, 0], e
    assert sum(e[0::2]) == SIZE and e[3] & nbd.STATE_HOLE, e

    def extent64(metacontext, offset, entries, err):
        got["entries64"] = entries

    h.block_status_64(SIZE, 0, extent64)
    e64 = got["entries64"]
    assert e64 == [(e[i], e[i + 1]) for i in range(0, len(e), 2)], e64

    h.block_status_64(SIZE, 0, extent64, nbd.CMD_FLAG_REQ_ONE)
    assert got["entries64"] == [(65536, 0)], got["entries64"]

    # The aio forms, with a completion that retires the command.
    done = []
    h.aio_block_status(SIZE, 0, extent, completion=lambda err: done.append(1) or 1)
    h.aio_block_status_64(SIZE, 0, extent64, lambda err: done.append(2) or 1)
    while h.aio_in_flight() > 0:
        h.poll(-1)
    assert sorted(done) == [1, 2]

    # An extent callback returning -1 fails the command with the errno it
    # left in the cell; one that raises counts as -1 with EPROTO (its
    # exception is the nbd.Error's cause).
    def refuse(metacontext, offset, entries, err):
        err.value = errno.EPERM
        return -1

    expect_error("EPERM", h.block_status, SIZE, 0, refuse)

    def explode(*args):
        raise ValueError("extent callback failed on purpose")

    expect_error("EPROTO", h.block_status_64, SIZE, 0, explode)
    # The handle is still usable.
    h.block_status(SIZE, 0, extent)
    assert got["entries"] == e

    # Without extended headers the filtered form is refused.
    if not h.get_extended_headers_negotiated():
        try:
            h.block_status_filter(SIZE, 0, ["base:allocation"], extent64)
            raise AssertionError("block_status_filter without extended headers")
        except nbd.Error:
            pass
    try:
        h.block_status(SIZE, 0, "not callable")
        raise AssertionError("non-callable extent callback accepted")
    except TypeError:
        pass
    h.close()
print("ok")

# Sync data calls against nbdkit's memory plugin on a Unix socket: pread
# returns a bytearray the library filled in place, pwrite takes any bytes-like object, flags default
# to 0, and zero/trim/flush/cache and the export's facts work.
import ctypes

import nbd
from nbdtest import Nbdkit, expect_error


class PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.py_object),
                ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p),
                ("strides", ctypes.c_void_p), ("suboffsets", ctypes.c_void_p),
                ("internal", ctypes.c_void_p)]


def address_of(obj):
    """Where the memory of a buffer object (even a read-only one) is."""
    view = PyBuffer()
    ctypes.pythonapi.PyObject_GetBuffer(ctypes.py_object(obj), ctypes.byref(view), 0)
    try:
        return view.buf
    finally:
        ctypes.pythonapi.PyBuffer_Release(ctypes.byref(view))

with Nbdkit(["memory", "1M"]) as srv:
    h = nbd.NBD()
    h.connect_unix(srv.sock)
    assert h.get_size() == 1048576
    assert h.aio_is_ready()
    assert h.can_flush() is True and h.is_read_only() is False
    assert h.get_protocol() == "newstyle-fixed"
    assert h.get_structured_replies_negotiated() is True

    # A bytearray, as libnbd-python(3) documents for the sync calls (and
    # python3-nbd 1.14 returns; oracle.py compares).
    data = h.pread(4096, 0)
    assert type(data) is bytearray and data == bytearray(4096)

    # With no copy in the binding: the library writes the payload
    # straight into the bytearray returned, so the chunks a structured
    # read reports lie inside it.
    h.pwrite(b"\x07" * 65536, 65536)
    chunk_addresses = []
    data = h.pread_structured(65536, 65536, lambda buf, off, status, err:
                              chunk_addresses.append((address_of(buf), len(buf))))
    start = address_of(data)
    assert type(data) is bytearray and data == b"\x07" * 65536
    assert chunk_addresses and all(start <= a and a + n <= start + len(data)
                                   for a, n in chunk_addresses), (start, chunk_addresses)

    h.pwrite(b"hello" * 100, 1000)
    h.pwrite(bytearray(b"\x01" * 512), 8192, nbd.CMD_FLAG_FUA)
    h.pwrite(memoryview(b"abc"), 20000, flags=0)
    assert h.pread(500, 1000) == b"hello" * 100
    assert h.pread(512, 8192) == b"\x01" * 512
    assert h.pread(3, 20000) == b"abc"

    h.zero(100, 1000)
    assert h.pread(100, 1000) == bytearray(100)
    assert h.pread(5, 1100) == b"hello"
    h.zero(512, 8192, nbd.CMD_FLAG_NO_HOLE)
    assert h.pread(512, 8192) == bytearray(512)
    h.trim(4096, 0)
    h.flush()
    h.cache(4096, 0)

    # Errors raised by the library carry its message and errno.
    ex = expect_error("EINVAL", h.pread, 10, 2 << 20)
    assert ex.errnum == 22 and ex.string.startswith("nbd_pread: ")
    assert str(ex) == ex.string + " (EINVAL)"
    assert ex.args == (ex.string, 22)
    expect_error("ENOSPC", h.pwrite, b"x", 1 << 20)
    # Python-side type errors never reach the library.
    for bad in [lambda: h.pread(-1, 0), lambda: h.pread("x", 0),
                lambda: h.pread(1, 1 << 64), lambda: h.pwrite("str", 0)]:
        try:
            bad()
            raise AssertionError("accepted a bad argument")
        except (TypeError, OverflowError):
            pass

    assert h.stats_bytes_sent() > 0 and h.stats_chunks_received() > 0
    h.shutdown()
    assert h.aio_is_closed()
    h.close()

# A handle that is not connected fails with the library's ENOTCONN.
h = nbd.NBD()
expect_error("ENOTCONN", h.pread, 1, 0)
expect_error("ENOENT", h.connect_unix, "/nonexistent/socket")
print("ok")

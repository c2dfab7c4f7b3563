# One script for two modules: compare.py runs it with fastnbd's nbd module
# and with the system's python3-nbd (libnbd 1.14), and the outputs must be
# identical.  It uses only calls libnbd 1.14 has, prints the types and
# values a program sees, and avoids printing error messages (their wording
# is the library's, not the binding's).
import errno
import inspect
import os
import shutil
import subprocess
import tempfile
import time

import nbd

tmp = tempfile.mkdtemp()
sock = os.path.join(tmp, "sock")
pidfile = os.path.join(tmp, "pid")
srv = subprocess.Popen(["nbdkit", "-f", "--exit-with-parent", "-U", sock, "-P", pidfile,
                        "memory", "1M"])
while not os.path.exists(pidfile):
    time.sleep(0.01)


def show(label, value):
    print("%s: %s %r" % (label, type(value).__name__, value))


def error_of(fn, *args):
    try:
        fn(*args)
        return "no error"
    except nbd.Error as ex:
        return "nbd.Error errno=%s errnum=%d args=%d str-ends=%r" % (
            ex.errno, ex.errnum, len(ex.args), str(ex).endswith("(%s)" % ex.errno))


# Signatures of the calls both have, as methods of a handle.
h = nbd.NBD()
for name in ["pread", "pwrite", "aio_pread", "aio_pwrite", "block_status",
             "aio_block_status", "pread_structured", "aio_pread_structured",
             "zero", "trim", "flush", "cache", "shutdown", "opt_list",
             "opt_list_meta_context", "aio_opt_list", "set_debug_callback",
             "connect_command", "aio_connect", "poll", "set_strict_mode",
             "aio_command_completed"]:
    print(name, inspect.signature(getattr(h, name)))

for name in ["TLS_REQUIRE", "SIZE_MAXIMUM", "CMD_FLAG_FUA", "CMD_FLAG_REQ_ONE",
             "HANDSHAKE_FLAG_NO_ZEROES", "SHUTDOWN_ABANDON_PENDING",
             "AIO_DIRECTION_BOTH", "READ_HOLE", "CONTEXT_BASE_ALLOCATION",
             "NAMESPACE_BASE", "STATE_ZERO", "STATE_HOLE"]:
    show(name, getattr(nbd, name))

# The version reporting (values differ: 1.14.2 against 1.24.0).
print("package_name:", nbd.package_name)
print("__version__:", type(nbd.__version__).__name__,
      nbd.__version__.count(".") == 2, nbd.__version__.startswith("1."))

h = nbd.NBD()
show("get_tls", h.get_tls())
show("get_debug", h.get_debug())
show("get_export_name", h.get_export_name())
show("set_private_data", h.set_private_data(7))
show("get_private_data", h.get_private_data())
show("get_handshake_flags", h.get_handshake_flags())
show("get_opt_mode", h.get_opt_mode())
show("supports_uri", h.supports_uri())
show("aio_is_created", h.aio_is_created())
show("set_export_name", h.set_export_name(""))
print("pread unconnected:", error_of(h.pread, 1, 0))
print("set_tls bad:", error_of(h.set_tls, 99))
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
show("get_nr_meta_contexts", h.get_nr_meta_contexts())
show("get_meta_context", h.get_meta_context(0))
print("get_meta_context 5:", error_of(h.get_meta_context, 5))

h.connect_unix(sock)
show("get_size", h.get_size())
show("can_flush", h.can_flush())
show("is_read_only", h.is_read_only())
show("get_protocol", h.get_protocol())
show("can_meta_context", h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION))
show("aio_is_ready", h.aio_is_ready())
show("pwrite", h.pwrite(b"\x01\x02" * 2048, 4096, nbd.CMD_FLAG_FUA))
show("pread", h.pread(8, 4096))
show("zero", h.zero(512, 4096))
show("pread after zero", h.pread(4, 4094))
show("trim", h.trim(4096, 65536))
show("flush", h.flush())
print("pread out of bounds:", error_of(h.pread, 10, 1 << 20))
print("pwrite out of bounds:", error_of(h.pwrite, b"x", 1 << 20))


def extent(metacontext, offset, entries, err):
    print("extent:", metacontext, offset, entries, type(err).__name__, err.value)


h.block_status(1 << 20, 0, extent)
h.block_status(1 << 20, 0, extent, nbd.CMD_FLAG_REQ_ONE)


def refuse(metacontext, offset, entries, err):
    err.value = errno.EPERM
    return -1


print("extent refuses:", error_of(h.block_status, 1 << 20, 0, refuse))


def chunk(buf, offset, status, err):
    print("chunk:", type(buf).__name__, len(buf), buf.readonly, offset, status,
          err.value)
    return 0


show("pread_structured", h.pread_structured(16, 4096, chunk))
show("pread_structured flags=", h.pread_structured(8, 4096, chunk, flags=0))

# The types the sync data calls take and return.
show("pread flags=", h.pread(4, 4096, flags=0))
show("pread is a new object", h.pread(4, 4096) is not h.pread(4, 4096))
for label, data in [("bytes", b"\x03\x04"), ("bytearray", bytearray(b"\x05\x06")),
                    ("memoryview", memoryview(b"\x07\x08\x09")[1:])]:
    show("pwrite " + label, h.pwrite(data, 8192))
    show("pread after pwrite " + label, h.pread(2, 8192))
show("pwrite flags=", h.pwrite(b"\x0a", 8192, flags=nbd.CMD_FLAG_FUA))
show("zero flags=", h.zero(2, 8192, flags=0))
show("trim flags=", h.trim(512, 8192, flags=0))
show("cache", h.cache(512, 0))
show("flush flags=", h.flush(flags=0))

buf = nbd.Buffer(16)
show("Buffer len", len(buf))
show("Buffer is_zero", buf.is_zero())
done = []
cookie = h.aio_pread(buf, 4096, lambda err: done.append(err.value) or 0)
show("cookie type", type(cookie).__name__)
while h.aio_in_flight() > 0:
    h.poll(-1)
show("completion saw", done)
show("aio_command_completed", h.aio_command_completed(cookie))
show("Buffer contents", buf.to_bytearray())
show("Buffer is_zero after", buf.is_zero())
show("Buffer to_buffer", buf.to_buffer())
show("Buffer size", buf.size())
show("Buffer from_bytearray", nbd.Buffer.from_bytearray(b"ab").to_bytearray())
shared = bytearray(4)
show("Buffer from_buffer shares", nbd.Buffer.from_buffer(shared).to_buffer() is shared)
show("Buffer is_zero range", nbd.Buffer.from_bytearray(b"\x00\x01\x00").is_zero(2, 1))

# An aio read into a plain bytearray, and a structured one into a Buffer.
plain = bytearray(8)
cookie = h.aio_pread(plain, 4096)
while not h.aio_command_completed(cookie):
    h.poll(-1)
show("aio_pread into bytearray", plain)
sbuf = nbd.Buffer(8)
cookie = h.aio_pread_structured(sbuf, 4096, chunk)
while not h.aio_command_completed(cookie):
    h.poll(-1)
show("aio_pread_structured", sbuf.to_bytearray())
cookie = h.aio_block_status(65536, 0, extent)
while not h.aio_command_completed(cookie):
    h.poll(-1)
wbuf = nbd.Buffer.from_bytearray(b"\xff" * 16)
cookie = h.aio_pwrite(wbuf, 0, lambda err: 1)
while h.aio_in_flight() > 0:
    h.poll(-1)
# (What aio_command_completed says of a cookie its completion retired is
# the library's business, and differs between libnbd versions.)
show("pread after aio_pwrite", h.pread(16, 0))
show("aio_get_direction", h.aio_get_direction())
show("shutdown", h.shutdown())
show("aio_is_closed", h.aio_is_closed())

h2 = nbd.NBD()
h2.set_opt_mode(True)
h2.connect_unix(sock)
show("aio_is_negotiating", h2.aio_is_negotiating())
names = []
show("opt_list", h2.opt_list(lambda name, desc: names.append((name, desc))))
show("exports", names)
ctxs = []
show("opt_list_meta_context", h2.opt_list_meta_context(lambda name: ctxs.append(name)))
show("contexts", ctxs)
show("opt_go", h2.opt_go())
show("aio_is_ready", h2.aio_is_ready())
h2.shutdown()

srv.terminate()
srv.wait()
shutil.rmtree(tmp)
print("done")

# Every call of spec/api.py made from Python at least once, against
# nbdkit and qemu-nbd: the handle records each method looked up, and the
# end checks the record against the table.  Calls the servers here cannot
# satisfy (vsock, TLS, the block status filter of a server without it)
# must fail with nbd.Error, not crash or hang.
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import nbd
from nbdtest import Nbdkit, skip

sys.path.insert(0, os.environ["FASTNBD_GEN"])
sys.path.insert(0, os.environ["FASTNBD_SPEC"])
import api  # noqa: E402

CALL_NAMES = {c.name for c in api.CALLS}
used = set()


class Recorded(nbd.NBD):
    __slots__ = ()

    def __getattribute__(self, name):
        if name in CALL_NAMES:
            used.add(name)
        return super().__getattribute__(name)


def error_or(fn, *args, **kwargs):
    """fn's result, or the nbd.Error it raised."""
    try:
        return fn(*args, **kwargs)
    except nbd.Error as ex:
        return ex


def settle(h, done):
    """Poll until done (a list a completion appends to) is not empty."""
    while not done:
        h.poll(-1)


def completion_into(done):
    return lambda err: done.append(err.value) or 1


NBDKIT_MEMORY = ["nbdkit", "-s", "--exit-with-parent", "memory", "1M"]

# ---- settings on a new handle
h = Recorded()
h.set_debug(False)
assert h.get_debug() is False
h.set_debug_callback(lambda ctx, msg: None)
h.clear_debug_callback()
h.set_handle_name("every")
assert h.get_handle_name() == "every"
h.set_private_data(7)
assert h.get_private_data() == 7
h.set_export_name("")
assert h.get_export_name() == ""
for name in ("structured_replies", "extended_headers", "meta_context", "block_size"):
    getattr(h, "set_request_" + name)(True)
    assert getattr(h, "get_request_" + name)() is True
h.set_full_info(True)
assert h.get_full_info() is True
h.set_handshake_flags(nbd.HANDSHAKE_FLAG_MASK)
assert h.get_handshake_flags() == nbd.HANDSHAKE_FLAG_MASK
h.set_strict_mode(nbd.STRICT_MASK)
assert h.get_strict_mode() == nbd.STRICT_MASK
h.set_opt_mode(False)
assert h.get_opt_mode() is False
h.set_pread_initialize(True)
assert h.get_pread_initialize() is True
h.set_socket_activation_name("every")
assert h.get_socket_activation_name() == "every"
h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
assert h.get_nr_meta_contexts() == 1
assert h.get_meta_context(0) == nbd.CONTEXT_BASE_ALLOCATION
h.clear_meta_contexts()
assert h.get_nr_meta_contexts() == 0
h.set_tls(nbd.TLS_ALLOW)
assert h.get_tls() == nbd.TLS_ALLOW
h.set_tls_certificates(tempfile.gettempdir())
h.set_tls_verify_peer(False)
assert h.get_tls_verify_peer() is False
h.set_tls_username("user")
assert h.get_tls_username() == "user"
h.set_tls_psk_file(os.devnull)
h.set_tls_hostname("localhost")
assert h.get_tls_hostname() == "localhost"
h.set_tls_priority("NORMAL")
assert h.get_tls_priority() == "NORMAL"
h.set_tls(nbd.TLS_DISABLE)
h.set_uri_allow_transports(nbd.ALLOW_TRANSPORT_MASK)
h.set_uri_allow_tls(nbd.TLS_ALLOW)
h.set_uri_allow_local_file(True)
h.set_uri_allow_tls_priority(True)
assert h.get_package_name() == "libnbd"
assert h.get_version().startswith("1.")
assert isinstance(h.get_version_extra(), str)
assert h.get_handle_size() > 0
assert isinstance(h.supports_tls(), bool) and isinstance(h.supports_vsock(), bool)
assert h.supports_uri() is True
assert h.is_uri("nbd://localhost") is True
assert h.aio_is_created() is True
assert not (h.aio_is_connecting() or h.aio_is_negotiating() or h.aio_is_ready() or
            h.aio_is_processing() or h.aio_is_dead() or h.aio_is_closed())
assert isinstance(h.connection_state(), str)
assert isinstance(error_or(h.aio_peek_command_completed), (int, nbd.Error))
h.close()

# ---- connecting every way
with Nbdkit(["memory", "1M"]) as srv:
    # By hand: the fd, its direction, and the notify calls.
    h = Recorded()
    h.aio_connect_unix(srv.sock)
    while not h.aio_is_ready():
        fd, direction = h.aio_get_fd(), h.aio_get_direction()
        want_read = direction & nbd.AIO_DIRECTION_READ
        want_write = direction & nbd.AIO_DIRECTION_WRITE
        r, w, _ = select.select([fd] if want_read else [], [fd] if want_write else [], [], 5)
        if w:
            h.aio_notify_write()
        elif r:
            h.aio_notify_read()
    assert h.get_size() == 1048576
    h.close()

    # The other connect calls, sync and aio (the aio ones driven by
    # poll2); aio_connect takes the socket's address.
    activation = ["nbdkit", "--exit-with-parent", "memory", "1M"]
    for name, arg in [("connect_uri", srv.uri), ("aio_connect_uri", srv.uri),
                      ("aio_connect", srv.sock),
                      ("connect_command", NBDKIT_MEMORY),
                      ("aio_connect_command", NBDKIT_MEMORY),
                      ("connect_systemd_socket_activation", activation),
                      ("aio_connect_systemd_socket_activation", activation)]:
        h = Recorded()
        getattr(h, name)(arg)
        while not h.aio_is_ready():
            assert h.poll2(-1, 5000) >= 0
        assert h.get_size() == 1048576, name
        h.close()

    # A connected socket handed over: the library owns it from then on.
    for name in ("connect_socket", "aio_connect_socket"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(srv.sock)
        h = Recorded()
        getattr(h, name)(s.detach())
        while not h.aio_is_ready():
            h.poll(-1)
        h.close()

    h = Recorded()
    h.connect_unix(srv.sock)
    h.close()

    # A subprocess server: its pid, and a signal for it.
    h = Recorded()
    h.connect_command(NBDKIT_MEMORY)
    assert h.get_subprocess_pid() > 0
    h.kill_subprocess(0)
    h.close()

# TCP on 127.0.0.1, with a free port.
probe = socket.socket()
probe.bind(("127.0.0.1", 0))
port = probe.getsockname()[1]
probe.close()
tcp = subprocess.Popen(["nbdkit", "-f", "--exit-with-parent", "-i", "127.0.0.1",
                        "-p", str(port), "memory", "1M"])
try:
    deadline = time.monotonic() + 30
    h = Recorded()
    while True:
        ex = error_or(h.connect_tcp, "127.0.0.1", str(port))
        if not isinstance(ex, nbd.Error):
            break
        assert time.monotonic() < deadline, ex
        h.close()
        time.sleep(0.05)
        h = Recorded()
    h.close()
    h = Recorded()
    h.aio_connect_tcp("127.0.0.1", str(port))
    while not h.aio_is_ready():
        h.poll(-1)
    h.close()
finally:
    tcp.terminate()
    tcp.wait()

# No vsock server here: both calls fail with nbd.Error.
for name in ("connect_vsock", "aio_connect_vsock"):
    h = Recorded()
    ex = error_or(getattr(h, name), 1, 10809)
    if not isinstance(ex, nbd.Error):
        while h.aio_is_connecting():
            if isinstance(error_or(h.poll, 1000), nbd.Error):
                break
    h.close()

# ---- option mode, sync and aio
with Nbdkit(["memory", "1M"]) as srv:
    h = Recorded()
    h.set_opt_mode(True)
    h.connect_unix(srv.sock)
    assert h.aio_is_negotiating()
    h.opt_info()
    done = []
    h.aio_opt_info(completion=completion_into(done))
    settle(h, done)
    exports = []
    assert h.opt_list(lambda name, desc: exports.append(name)) >= 1
    done = []
    h.aio_opt_list(lambda name, desc: 0, completion=completion_into(done))
    settle(h, done)
    contexts = []
    h.opt_list_meta_context(lambda name: contexts.append(name))
    assert nbd.CONTEXT_BASE_ALLOCATION in contexts, contexts
    done = []
    h.aio_opt_list_meta_context(lambda name: 0, completion=completion_into(done))
    settle(h, done)
    h.opt_list_meta_context_queries(["base:"], lambda name: 0)
    done = []
    h.aio_opt_list_meta_context_queries(["base:"], lambda name: 0,
                                        completion=completion_into(done))
    settle(h, done)
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    assert h.opt_set_meta_context(lambda name: 0) == 1
    done = []
    h.aio_opt_set_meta_context(lambda name: 0, completion=completion_into(done))
    settle(h, done)
    h.opt_set_meta_context_queries([nbd.CONTEXT_BASE_ALLOCATION], lambda name: 0)
    done = []
    h.aio_opt_set_meta_context_queries([nbd.CONTEXT_BASE_ALLOCATION], lambda name: 0,
                                       completion=completion_into(done))
    settle(h, done)
    assert isinstance(h.opt_structured_reply(), bool)
    done = []
    h.aio_opt_structured_reply(completion=completion_into(done))
    settle(h, done)
    assert isinstance(h.opt_extended_headers(), bool)
    done = []
    h.aio_opt_extended_headers(completion=completion_into(done))
    settle(h, done)
    # Without TLS on the handle, STARTTLS is refused before it is sent.
    assert isinstance(error_or(h.opt_starttls), (bool, nbd.Error))
    assert isinstance(error_or(h.aio_opt_starttls, completion=lambda err: 1),
                      (type(None), nbd.Error))
    while h.aio_is_connecting():
        h.poll(-1)
    done = []
    h.aio_opt_go(completion=completion_into(done))
    settle(h, done)
    assert h.aio_is_ready()
    h.close()

    for abort in ("opt_abort", "aio_opt_abort"):
        h = Recorded()
        h.set_opt_mode(True)
        h.connect_unix(srv.sock)
        getattr(h, abort)()
        while not (h.aio_is_closed() or h.aio_is_dead()):
            h.poll(-1)
        h.close()

    h = Recorded()
    h.set_opt_mode(True)
    h.connect_unix(srv.sock)
    h.opt_go()
    assert h.aio_is_ready()
    h.close()

# ---- data and the export's facts, against nbdkit
with Nbdkit(["memory", "1M"]) as srv:
    h = Recorded()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_unix(srv.sock)
    for fact in ("is_read_only", "can_flush", "can_fua", "is_rotational", "can_trim",
                 "can_zero", "can_df", "can_multi_conn", "can_cache", "can_fast_zero",
                 "can_block_status_payload"):
        assert isinstance(getattr(h, fact)(), bool), fact
    assert h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION) is True
    assert h.get_block_size(nbd.SIZE_PREFERRED) >= 0
    assert h.get_protocol() == "newstyle-fixed"
    assert isinstance(error_or(h.get_canonical_export_name), (str, nbd.Error))
    assert isinstance(error_or(h.get_export_description), (str, nbd.Error))
    assert h.get_structured_replies_negotiated() is True
    assert isinstance(h.get_extended_headers_negotiated(), bool)
    assert h.get_tls_negotiated() is False
    assert h.get_uri().startswith("nbd+unix:")

    h.pwrite(b"\x01" * 4096, 0)
    assert h.pread(4096, 0) == b"\x01" * 4096
    assert h.pread_structured(4096, 0, lambda *a: 0) == b"\x01" * 4096
    h.flush()
    h.trim(4096, 8192)
    h.cache(4096, 0)
    h.zero(4096, 12288)
    h.block_status(65536, 0, lambda *a: 0)
    h.block_status_64(65536, 0, lambda *a: 0)
    assert isinstance(error_or(h.block_status_filter, 65536, 0,
                               [nbd.CONTEXT_BASE_ALLOCATION], lambda *a: 0), (type(None), nbd.Error))

    buf = nbd.Buffer(4096)
    cookies = [
        h.aio_pread(buf, 0),
        h.aio_pread_structured(nbd.Buffer(4096), 0, lambda *a: 0),
        h.aio_pwrite(nbd.Buffer.from_bytearray(b"\x02" * 4096), 4096),
        h.aio_flush(),
        h.aio_trim(4096, 8192),
        h.aio_cache(4096, 0),
        h.aio_zero(4096, 12288),
        h.aio_block_status(65536, 0, lambda *a: 0),
        h.aio_block_status_64(65536, 0, lambda *a: 0),
    ]
    filtered = error_or(h.aio_block_status_filter, 65536, 0, [nbd.CONTEXT_BASE_ALLOCATION],
                        lambda *a: 0)
    if not isinstance(filtered, nbd.Error):
        cookies.append(filtered)
    assert h.aio_in_flight() > 0
    for cookie in cookies:
        while not h.aio_command_completed(cookie):
            h.poll(-1)
    assert buf.to_bytearray() == b"\x01" * 4096
    assert h.aio_in_flight() == 0
    for stat in ("stats_bytes_sent", "stats_chunks_sent", "stats_bytes_received",
                 "stats_chunks_received"):
        assert getattr(h, stat)() > 0, stat
    h.shutdown()
    h.close()

    h = Recorded()
    h.connect_unix(srv.sock)
    h.aio_disconnect()
    while not h.aio_is_closed():
        if isinstance(error_or(h.poll, 1000), nbd.Error):
            break
    h.close()

# ---- against qemu-nbd: its qemu:allocation-depth context, and block
# status through the filter call (which qemu-nbd may not offer)
if shutil.which("qemu-nbd") is None:
    skip("qemu-nbd is not installed")
tmp = tempfile.mkdtemp(prefix="nbdpy-qemu-")
image = os.path.join(tmp, "disk.raw")
with open(image, "wb") as f:
    f.truncate(1 << 20)
sock = os.path.join(tmp, "sock")
qemu = subprocess.Popen(["qemu-nbd", "-f", "raw", "-k", sock, "-A", "-t", image])
try:
    deadline = time.monotonic() + 30
    while not os.path.exists(sock):
        assert qemu.poll() is None and time.monotonic() < deadline, "qemu-nbd did not start"
        time.sleep(0.01)
    h = Recorded()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.add_meta_context(nbd.CONTEXT_QEMU_ALLOCATION_DEPTH)
    h.connect_unix(sock)
    assert h.can_meta_context(nbd.CONTEXT_QEMU_ALLOCATION_DEPTH) is True
    seen = set()
    h.block_status_64(1 << 20, 0, lambda ctx, off, entries, err: seen.add(ctx) or 0)
    assert seen == {nbd.CONTEXT_BASE_ALLOCATION, nbd.CONTEXT_QEMU_ALLOCATION_DEPTH}, seen
    assert isinstance(error_or(h.block_status_filter, 1 << 20, 0,
                               [nbd.CONTEXT_QEMU_ALLOCATION_DEPTH], lambda *a: 0),
                      (type(None), nbd.Error))
    h.shutdown()
    h.close()
finally:
    qemu.terminate()
    qemu.wait()
    shutil.rmtree(tmp, ignore_errors=True)

missing = CALL_NAMES - used
assert not missing, "calls never made from Python: %s" % sorted(missing)
print("ok: all %d calls made" % len(used))
